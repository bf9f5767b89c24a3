"""Configuration as code: the catalog (support calendars, SLA policies, customers,
services, monitors, maintenance windows) as a YAML file, named by slugs and names,
never ids.

``uptally apply -f catalog.yaml`` validates the file with the API's own request models,
shows a plan and applies it in one transaction; ``uptally export`` writes the stored
catalog in the same format, so an export applied back changes nothing.

- ``load``: YAML into plain values, with the line of every key and list item
- ``fields``: the one comparable form of each kind, built from the API's models
- ``validate``: the file's objects through those models; problems as file:line: field
- ``stored``: the database's catalog in the same form
- ``plan``: the pure diff between the two, and how it reads
- ``apply``: carrying a plan out, as the API's handlers would
- ``export``: the stored catalog as a catalog file
- ``cli``: the ``apply`` and ``export`` commands
"""
