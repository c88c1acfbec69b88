-- A node that accepts connections but never answers (a hung host, a half-open firewall) must
-- still fail a caller within the 5 s the functions promise for a down node. libpq's
-- connect_timeout bounds that wait, and PostgreSQL 15's libpq counts it in whole seconds of the
-- wall clock, so '5' (20261125000200) waited between 4 and 5 s: with the call's own work, such a
-- node answered in 4.1 to 5.9 s, on either side of the promise by chance. '3' waits 2 to 3 s
-- (measured: a 503 in 2.8 s), and is still ample for a TLS handshake across a continent.

alter server events_ts options (set connect_timeout '3');
