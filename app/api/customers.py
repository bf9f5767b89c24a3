"""Customers: the hosting provider's clients, each with a time zone for its SLA months."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select

from app.api.deps import (
    Admin,
    IdPath,
    PagingDep,
    Reader,
    SessionDep,
    commit_or_conflict,
    conflict,
    load_customer,
    paged,
    validate_merged,
)
from app.api.errors import AUTHENTICATED, error_responses
from app.models import Customer, Service
from app.schemas.catalog import CustomerCreate, CustomerRead, CustomerUpdate
from app.schemas.common import Page, utc_now

router = APIRouter(prefix="/api/v1/customers", tags=["customers"], responses=AUTHENTICATED)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomerRead,
    responses=error_responses(409, 413),
)
async def create_customer(body: CustomerCreate, session: SessionDep, _: Admin) -> Customer:
    customer = Customer(**body.model_dump(), created_at=utc_now())
    session.add(customer)
    await commit_or_conflict(session, f"a customer with slug {body.slug!r} exists")
    return customer


@router.get("", response_model=Page[CustomerRead])
async def list_customers(session: SessionDep, who: Reader, page: PagingDep) -> dict[str, Any]:
    query = select(Customer).order_by(Customer.id)
    if who.customer_id is not None:
        query = query.where(Customer.id == who.customer_id)
    return await paged(session, query, page)


@router.get("/{customer_id}", response_model=CustomerRead, responses=error_responses(404))
async def read_customer(customer_id: IdPath, session: SessionDep, who: Reader) -> Customer:
    return await load_customer(session, who, customer_id)


@router.patch(
    "/{customer_id}", response_model=CustomerRead, responses=error_responses(404, 409, 413)
)
async def update_customer(
    customer_id: IdPath, body: CustomerUpdate, session: SessionDep, who: Admin
) -> Customer:
    customer = await load_customer(session, who, customer_id)
    current = CustomerRead.model_validate(customer).model_dump(exclude={"id"})
    merged = validate_merged(CustomerCreate, current, body.model_dump(exclude_unset=True))
    for name, value in merged.model_dump().items():
        setattr(customer, name, value)
    await commit_or_conflict(session, f"a customer with slug {merged.slug!r} exists")
    return customer


@router.delete(
    "/{customer_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409)
)
async def delete_customer(customer_id: IdPath, session: SessionDep, who: Admin) -> None:
    customer = await load_customer(session, who, customer_id)
    if await session.scalar(select(Service.id).where(Service.customer_id == customer.id)):
        raise conflict(f"customer {customer_id} still has services; delete them first")
    await session.delete(customer)
    await session.commit()
