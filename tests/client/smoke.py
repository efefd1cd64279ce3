"""A client generated from services/core/openapi.json (openapi-python-client) against a
running stack: every call parses the answer into the document's models, which raise when
a required field is missing or of the wrong type, so the document and the API agree.

Usage: smoke.py <base url> <admin token>. Run by tests/system/client.rs.
"""

import sys
import uuid

from incident_client import AuthenticatedClient
from incident_client.api.incidents import (
    change_incident_status,
    declare_incident,
    get_incident,
    list_incidents,
)
from incident_client.models import (
    DeclareIncident,
    IncidentPage,
    IncidentStatus,
    IncidentView,
    Problem,
    Severity,
    StatusChange,
)


def expect(value, kind, what):
    if not isinstance(value, kind):
        raise SystemExit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main(base: str, token: str) -> None:
    client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
    with client as c:
        key = str(uuid.uuid4())
        declared = expect(
            declare_incident.sync(
                client=c,
                body=DeclareIncident(title="Generated client smoke", severity=Severity.SEV2),
                idempotency_key=key,
            ),
            IncidentView,
            "declare",
        )
        assert declared.reference.startswith("INC-"), declared.reference
        again = expect(
            declare_incident.sync(
                client=c,
                body=DeclareIncident(title="Generated client smoke", severity=Severity.SEV2),
                idempotency_key=key,
            ),
            IncidentView,
            "declare again",
        )
        assert again.id == declared.id, "the Idempotency-Key declares once"

        fetched = expect(get_incident.sync(str(declared.id), client=c), IncidentView, "get")
        assert fetched.title == "Generated client smoke"

        page = expect(list_incidents.sync(client=c, severity="SEV2"), IncidentPage, "list")
        assert any(i.id == declared.id for i in page.items), page

        resolved = expect(
            change_incident_status.sync(
                str(declared.id),
                client=c,
                body=StatusChange(status=IncidentStatus.RESOLVED, message="fixed"),
            ),
            IncidentView,
            "resolve",
        )
        assert resolved.status == IncidentStatus.RESOLVED
        assert resolved.resolved_at is not None

        missing = expect(get_incident.sync(str(uuid.uuid4()), client=c), Problem, "404")
        assert missing.type_.endswith("/not-found"), missing.type_
        refused = expect(
            change_incident_status.sync(
                str(declared.id),
                client=c,
                body=StatusChange(status=IncidentStatus.IDENTIFIED),
            ),
            Problem,
            "illegal move",
        )
        assert refused.type_.endswith("/illegal-transition"), refused.type_
    print(f"ok: {declared.reference} declared, listed, resolved; problems parsed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
