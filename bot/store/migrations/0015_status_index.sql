-- Issue 27 item 3: `/deploy status` lists the open requests, newest first (Unit.open_request_lines). With this
-- index the statement reads the index alone (state, then created_at for the order, then the three columns the
-- status shows) instead of each request's whole row: ~900 open requests took 30 ms a status on SQLite.
CREATE INDEX requests_status ON requests (state, created_at, service, environment, id)
