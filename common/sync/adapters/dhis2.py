"""A DHIS2 tracker program as a sync target: `Dhis2Connector.push` behind the `Target` port.

The records arrive reduced to what the policy lets DHIS2 hold (no names, no immigration status,
nothing without a shared consent purpose), and the connector refuses restricted elements once
more whatever the package says. Tracker UIDs derive from the record id and the case and person
references, and imports run CREATE_AND_UPDATE, so pushing a batch again updates, never duplicates.

A record spans a tracked entity, an enrollment and events shared with other records of the same
case, so no single DHIS2 UID is "the record's"; its id-map platform id is the record id, from
which the UIDs follow.

Not a source: records read back from DHIS2 are per event, with ids derived from DHIS2 UIDs, and
the default policy makes DHIS2 the owner of nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from tipdata.dhis2_app.connector import Dhis2Connector
from tipdata.dhis2_app.tracker import LINK_KEYS
from tipdata.sync.ports import Outbound, WriteOutcome

#: nothing that files the record in DHIS2 (person or case reference) may travel
LINK_WITHHELD = "link_withheld"


def link_precheck(outbound: Outbound) -> WriteOutcome | None:
    """Withheld when the policy lets no person or case reference travel (nothing links it).

    Shared by the tracker target and the payload folder so both withhold the same records.
    """
    values = outbound.record.values
    if any(values.get(key) for key in LINK_KEYS):
        return None
    if any(code in LINK_KEYS for code, _reason in outbound.decision.withheld):
        return WriteOutcome(outbound.record_id, "withheld", reason=LINK_WITHHELD)
    # no reference at all: a screening is filed under the keys of the case derived from it
    # (`SCRP-…`/`SCR-…`, tipdata.dhis2_app.screening); any other record is left unplaced by the
    # builder and quarantined by the connector (DH401)
    return None


class Dhis2Tracker:
    """Push outbound records to one DHIS2 server's tracker program.

    >>> target = Dhis2Tracker(Dhis2Connector.from_environment(codebook, org_unit="ImspTQPwCqd"))
    """

    name = "dhis2"
    #: DH402: refused because its tracked entity or enrollment was, in the same import
    transient_reasons = frozenset({"DH402"})

    def __init__(self, connector: Dhis2Connector, *, batch_size: int = 250) -> None:
        if connector.policy is not None:
            raise ValueError("give the connector no policy: the sync engine applies it, once")
        self.connector = connector
        self.batch_size = batch_size
        connector.batch_size = batch_size

    def precheck(self, outbound: Outbound) -> WriteOutcome | None:
        return link_precheck(outbound)

    def write(self, batch: Sequence[Outbound]) -> list[WriteOutcome]:
        deletions = {o.record_id: o.retracted for o in batch if o.retracted}  # consent withdrawn
        result = self.connector.push([o.record for o in batch], deletions=deletions or None)
        refused = {q.record_id: q for q in result.quarantined if q.record_id}
        outcomes = []
        for outbound in batch:
            record_id = outbound.record_id
            if record_id in refused:
                outcomes.append(WriteOutcome(record_id, "quarantined", quarantined=refused[record_id]))
            else:
                status = "created" if outbound.link is None or outbound.link.platform_id != record_id \
                    else "updated"
                outcomes.append(WriteOutcome(record_id, status, platform_id=record_id))  # type: ignore[arg-type]
        return outcomes
