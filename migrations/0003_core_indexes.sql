-- Indexes for core's incident list filters.
--
-- `service=`: the list walks incidents newest first and probes each for the service; this
-- index turns every probe into an index lookup (the name is matched case-insensitively).
CREATE INDEX affected_services_incident_name_idx ON affected_services (incident_id, lower(service_name));
