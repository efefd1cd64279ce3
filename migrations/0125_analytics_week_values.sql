-- Analytics (issue 10): the values of whole built weeks, for summaries over many weeks.
--
-- A summary's medians and p90s are over its whole range, so they cannot come from the
-- week figures of 0117; they merged every sorted duration of every built day cell (a
-- 90-day summary: about 80 days, 2.6 MB of float8[] read, de-TOASTed and sent;
-- BENCHMARKS.md). A whole built week now also keeps, per severity and drill, what a
-- summary needs of it: its counts, services and five slowest merged, and for each
-- duration (acknowledge, mitigate, resolve, close, resolve → publish, created → done)
-- the sorted values (in pages of 8 buckets) with their count per bucket
-- (`rollup::bucket`: 16 per power of two of seconds, from the float's bits, so every
-- machine cuts them alike), sum and max.
--
-- A summary reads the weeks' counts, bucket counts, sums and maxes (small), finds from
-- them the bucket holding each rank a median or p90 needs, and then reads only those
-- buckets' values (`vals[lo:hi]` of their page, positions from the bucket counts):
-- exact, because the values of a bucket are consecutive in a sorted array and the
-- ranks before it are counted. Partial edge weeks, unbuilt days and live rows are
-- merged as before; a range of fewer than 4 whole weeks reads their day cells.
--
-- A week's values and pages go with its row in analytics_weeks (cascade), which 0117's
-- trigger deletes whenever one of its days is forgotten: the late-event triggers of
-- 0095 and 0116 forget these too. `with_values` tells weeks built with their values
-- from weeks an older builder made (built again, never read for a summary).
ALTER TABLE analytics_weeks ADD COLUMN with_values boolean NOT NULL DEFAULT false;

CREATE TABLE analytics_week_values (
    workspace_id   uuid      NOT NULL,
    week           date      NOT NULL,
    severity       incident_severity NOT NULL,
    is_drill       boolean   NOT NULL,
    incidents      int8      NOT NULL,
    -- as analytics_cells
    by_status      int8[]    NOT NULL,
    from_alert     int8      NOT NULL,
    ack_met        int8      NOT NULL,
    ack_missed     int8      NOT NULL,
    res_met        int8      NOT NULL,
    res_missed     int8      NOT NULL,
    no_update_due  int8      NOT NULL,
    update_due     int8      NOT NULL,
    breaches       int8      NOT NULL,
    ack_breaches   int8      NOT NULL,
    res_breaches   int8      NOT NULL,
    warnings       int8      NOT NULL,
    updates_due    int8      NOT NULL,
    slow_ids       uuid[]    NOT NULL,
    slow_numbers   int4[]    NOT NULL,
    slow_seconds   float8[]  NOT NULL,
    pm_drafted     int8      NOT NULL,
    pm_published   int8      NOT NULL,
    items          int8      NOT NULL,
    items_open     int8      NOT NULL,
    items_done     int8      NOT NULL,
    items_wont_do  int8      NOT NULL,
    open_due       date[]    NOT NULL,
    -- incidents by service: lower-case key, spelling that sorts first, incidents
    service_keys   text[]    NOT NULL,
    service_names  text[]    NOT NULL,
    service_counts int8[]    NOT NULL,
    -- for each duration (ack, mit, res, clo, to_publish, to_done), in that order: the
    -- first bucket counted, the sum and the max (NULL without a value)
    hist_from      int4[]    NOT NULL,
    sums           float8[]  NOT NULL,
    maxes          float8[]  NOT NULL,
    -- values per bucket, from hist_from on
    ack_hist        int4[]   NOT NULL,
    mit_hist        int4[]   NOT NULL,
    res_hist        int4[]   NOT NULL,
    clo_hist        int4[]   NOT NULL,
    to_publish_hist int4[]   NOT NULL,
    to_done_hist    int4[]   NOT NULL,
    PRIMARY KEY (workspace_id, week, severity, is_drill),
    FOREIGN KEY (workspace_id, week) REFERENCES analytics_weeks (workspace_id, week)
        ON DELETE CASCADE
);

-- The sorted values themselves, in pages of 8 buckets (half a power of two of
-- seconds): a summary reads the few pages its ranks fall in, not whole arrays (slicing
-- an array still reads and de-TOASTs all of it).
CREATE TABLE analytics_week_pages (
    workspace_id uuid     NOT NULL,
    week         date     NOT NULL,
    severity     incident_severity NOT NULL,
    is_drill     boolean  NOT NULL,
    -- 0 ack, 1 mit, 2 res, 3 clo, 4 to_publish, 5 to_done
    col          int2     NOT NULL,
    -- bucket / 8
    page         int4     NOT NULL,
    vals         float8[] NOT NULL,
    PRIMARY KEY (workspace_id, week, severity, is_drill, col, page),
    FOREIGN KEY (workspace_id, week, severity, is_drill)
        REFERENCES analytics_week_values (workspace_id, week, severity, is_drill)
        ON DELETE CASCADE
);

-- Weeks built before have no values: build them again.
DELETE FROM analytics_weeks;
