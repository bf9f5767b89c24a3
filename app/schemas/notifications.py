"""Request and response models for notification channels and the delivery record.

A channel's URL is accepted in full and never returned so: reads show it masked
(``json://…ab12``). To keep a stored channel in a new list without sending its
secret again, name it by ``id``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from app.schemas.common import Ident, Strict

Event = Literal["down", "up", "reminder", "degraded", "budget", "incident"]
ALL_EVENTS: list[Event] = ["down", "up", "reminder", "degraded", "budget", "incident"]
MAX_CHANNELS = 20  # per customer or service


class ChannelIn(Strict):
    id: Ident | None = Field(
        default=None, description="a stored channel of this list, kept (its URL too, unless given)"
    )
    url: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None,
        description="an Apprise URL, e.g. json://hooks.example.com/uptally, "
        "mailto://user:password@example.com, slack://T/B/C; a secret, never shown whole",
    )
    events: list[Event] | None = Field(
        default=None,
        min_length=1,
        description="the events this channel is told of; default all: " + ", ".join(ALL_EVENTS),
    )

    @model_validator(mode="after")
    def _id_or_url(self) -> ChannelIn:
        if self.id is None and self.url is None:
            raise ValueError("give a new channel's url, or the id of a stored one to keep")
        if self.events is not None and len(set(self.events)) != len(self.events):
            raise ValueError("events lists an event twice")
        return self


class ChannelsIn(Strict):
    channels: list[ChannelIn] = Field(
        max_length=MAX_CHANNELS, description="the whole list; channels not named are removed"
    )


class ChannelRead(BaseModel):
    id: int
    url: str = Field(description="masked: the scheme and the last 4 characters")
    events: list[str]


class ChannelsRead(BaseModel):
    customer_id: int | None = None
    service_id: int | None = None
    channels: list[ChannelRead]


class DeliveryRead(BaseModel):
    id: int
    message_id: int
    event: str
    title: str
    body: str
    customer_id: int | None
    service_id: int | None
    monitor_id: int | None
    channel_id: int | None = Field(description="null: one of the operators' UPTALLY_NOTIFY_URLS")
    channel: str = Field(description="the URL, masked")
    status: Literal["pending", "sent", "failed"]
    attempts: int
    created_at: str
    next_attempt_at: str | None = Field(description="when it is tried next (pending only)")
    sent_at: str | None
    last_error: str | None
