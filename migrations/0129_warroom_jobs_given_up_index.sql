-- Given-up war-room jobs are kept for INCIDENT_WARROOM_JOB_RETENTION_DAYS and then purged
-- in batches, oldest first (services/warroom/src/jobs.rs, purge_given_up): the purge and
-- the gauge of those kept read only given-up rows, which the live-job indexes leave out.
CREATE INDEX warroom_jobs_given_up_idx ON warroom_jobs (dead_at) WHERE dead_reason IS NOT NULL;
