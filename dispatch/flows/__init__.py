"""Where domains meet: keyword-only async functions over a `dispatch.runtime.Runtime`.

Each flow reads state, calls the pure cores (dispatch.triage, dispatch.geo), writes to
PostgreSQL and only then publishes on the Redis bus. Claims are conditional UPDATEs, so any
number of instances run them at once. Lock order, to rule out deadlocks: a call row first,
then a vehicle row; intake, the drain, a dispatcher's override and cancel, and a crew's
status all follow it; a claim takes its vehicle with SKIP LOCKED and never waits.

- intake: take a call; aml: AML reports; fixes: location fixes; retriage: triage again;
  destination: the located call's district and receiving centre
- candidates: who could serve a call; claim: claim and release a vehicle, assign or
  recommend; queue: the drain and the sweep; assign: recommend, dispatch, cancel
- fleet: crew status, milestones, positions, the live index's rebuild
- bookings: booked non-emergency transport; reads: call views and lists
- coverage: coverage and move-up; eta_calibration: refitting the ETA model
- fanout: publishing committed facts (through the outbox); outcome: what a flow did
- crew: a crew tablet's frames; positions: its positions and the ETA to the centre;
  crew_link: one connection's memory and its re-triage check; crew_batches: what an
  instance's crew connections share (group commit, the consoles' position batch)
- hospital: a receiving centre's frames, diversion and capacity; record: snapshots, the
  ATMIST / FHIR handover record, read audits
"""
