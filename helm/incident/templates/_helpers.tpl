{{/*
The chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "incident.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A fully qualified app name: the release name, plus the chart name unless the release
name already contains it. Truncated to 63 characters; per-service names append a suffix
to it, so keep release names short.
*/}}
{{- define "incident.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "incident.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "incident.labels" -}}
helm.sh/chart: {{ include "incident.chart" . }}
{{ include "incident.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "incident.name" . }}
{{- end }}

{{/*
Selector labels shared by every object of the release.
*/}}
{{- define "incident.selectorLabels" -}}
app.kubernetes.io/name: {{ include "incident.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The services this chart deploys: values key -> component name (also the binary's
suffix: incident-<component>). Returned as YAML; use with fromYaml.
*/}}
{{- define "incident.components" -}}
core: core
ingestion: ingestion
slaWatchdog: sla-watchdog
warroom: warroom
postmortem: postmortem
{{- end }}

{{/*
The name of one service's objects. Call with (dict "root" $ "component" "core").
*/}}
{{- define "incident.componentName" -}}
{{- printf "%s-%s" (include "incident.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component }}
{{- end }}

{{/*
Labels of one service's objects. Call with (dict "root" $ "component" "core").
*/}}
{{- define "incident.componentLabels" -}}
{{ include "incident.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one service's pods. Call with (dict "root" $ "component" "core").
*/}}
{{- define "incident.componentSelectorLabels" -}}
{{ include "incident.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The image reference.
*/}}
{{- define "incident.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The Secret the pods read DATABASE_URL, AMQP_URL and the tokens from.
*/}}
{{- define "incident.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "incident.fullname" . }}
{{- end }}
{{- end }}

{{/*
The Secret the install Job reads: the existing one, or the hook copy of the chart's
(the chart's own Secret does not exist yet when a pre-install hook runs).
*/}}
{{- define "incident.installSecretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- printf "%s-install" (include "incident.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}
{{- end }}

{{/*
The secret settings: environment variable -> (values key, required). Returned as YAML.
*/}}
{{- define "incident.secretVars" -}}
DATABASE_URL: {key: databaseUrl, required: true}
AMQP_URL: {key: amqpUrl, required: true}
INCIDENT_BOOTSTRAP_TOKEN: {key: bootstrapToken, required: false}
INCIDENT_SLACK_BOT_TOKEN: {key: slackBotToken, required: false}
INCIDENT_SLACK_SIGNING_SECRET: {key: slackSigningSecret, required: false}
INCIDENT_LLM_API_KEY: {key: llmApiKey, required: false}
INCIDENT_SECRETS_KEY: {key: secretsKey, required: false}
INCIDENT_OIDC_CLIENT_SECRET: {key: oidcClientSecret, required: false}
INCIDENT_SLACK_CLIENT_SECRET: {key: slackClientSecret, required: false}
{{- end }}

{{/*
The data of the chart-managed Secret (keys are the variable names). Fails without the
required ones.
*/}}
{{- define "incident.secretData" -}}
DATABASE_URL: {{ required "secrets.databaseUrl is required (or set existingSecret)" .Values.secrets.databaseUrl | b64enc | quote }}
AMQP_URL: {{ required "secrets.amqpUrl is required (or set existingSecret)" .Values.secrets.amqpUrl | b64enc | quote }}
{{- range $var, $spec := include "incident.secretVars" . | fromYaml }}
{{- if not $spec.required }}
{{- with index $.Values.secrets $spec.key }}
{{ $var }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The container environment shared by every pod (services and the install Job): the
non-secret settings as values, the secrets by reference. Call with
(dict "root" $ "secret" <Secret name> "maxConnections" <pool size>).
*/}}
{{- define "incident.env" -}}
{{- $root := .root }}
{{- $c := $root.Values.config -}}
- name: INCIDENT_HTTP_ADDR
  value: "0.0.0.0:8080"
- name: INCIDENT_DATABASE_MAX_CONNECTIONS
  value: {{ .maxConnections | int | toString | quote }}
- name: INCIDENT_LOG_FORMAT
  value: {{ $c.logFormat | quote }}
- name: RUST_LOG
  value: {{ $c.logLevel | quote }}
- name: INCIDENT_AMQP_PREFETCH
  value: {{ $c.amqpPrefetch | int | toString | quote }}
- name: INCIDENT_OUTBOX_POLL_SECS
  value: {{ $c.outboxPollSecs | int | toString | quote }}
- name: INCIDENT_SHUTDOWN_GRACE_SECS
  value: {{ $c.shutdownGraceSecs | int | toString | quote }}
- name: INCIDENT_SLA_SWEEP_INTERVAL_SECS
  value: {{ $c.slaSweepIntervalSecs | int | toString | quote }}
- name: INCIDENT_SLA_DIGEST_CRON
  value: {{ $c.slaDigestCron | quote }}
- name: INCIDENT_SLA_WEEKLY_DIGEST_CRON
  value: {{ $c.slaWeeklyDigestCron | quote }}
- name: INCIDENT_TRACKER_POLL_SECS
  value: {{ $c.trackerPollSecs | int | toString | quote }}
- name: INCIDENT_WARROOM_JOB_RETENTION_DAYS
  value: {{ $c.warroomJobRetentionDays | int | toString | quote }}
- name: INCIDENT_OIDC_DEFAULT_ROLE
  value: {{ $c.oidcDefaultRole | quote }}
{{- with $c.oidcIssuer }}
- name: INCIDENT_OIDC_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with $c.oidcClientId }}
- name: INCIDENT_OIDC_CLIENT_ID
  value: {{ . | quote }}
{{- end }}
{{- with $c.oidcRedirectUrl }}
- name: INCIDENT_OIDC_REDIRECT_URL
  value: {{ . | quote }}
{{- end }}
{{- with $c.oidcEmailDomain }}
- name: INCIDENT_OIDC_EMAIL_DOMAIN
  value: {{ . | quote }}
{{- end }}
{{- with $c.oidcTenants }}
- name: INCIDENT_OIDC_TENANTS
  value: {{ . | quote }}
{{- end }}
{{- with $c.publicUrl }}
- name: INCIDENT_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- with $c.otelExporterOtlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $c.slackApiUrl }}
- name: INCIDENT_SLACK_API_URL
  value: {{ . | quote }}
{{- end }}
{{- with $c.slackClientId }}
- name: INCIDENT_SLACK_CLIENT_ID
  value: {{ . | quote }}
{{- end }}
{{- with $c.slackOauthUrl }}
- name: INCIDENT_SLACK_OAUTH_URL
  value: {{ . | quote }}
{{- end }}
{{- with $c.llmApiUrl }}
- name: INCIDENT_LLM_API_URL
  value: {{ . | quote }}
{{- end }}
{{- with $c.llmModel }}
- name: INCIDENT_LLM_MODEL
  value: {{ . | quote }}
{{- end }}
{{- if $c.file }}
- name: INCIDENT_CONFIG_FILE
  value: /etc/incident/config.toml
{{- end }}
{{- range $var, $spec := include "incident.secretVars" $root | fromYaml }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secret }}
      key: {{ if $root.Values.existingSecret }}{{ index $root.Values.existingSecretKeys $spec.key }}{{ else }}{{ $var }}{{ end }}
      {{- if not $spec.required }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}

{{/*
Refuses values that cannot work: a termination grace that cuts the app's own shutdown
short, and pools that together exceed database.connectionBudget.
*/}}
{{- define "incident.checks" -}}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- $needed := add (int .Values.preStopSleepSeconds) (int .Values.config.shutdownGraceSecs) }}
{{- if le $grace (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be longer than preStopSleepSeconds + config.shutdownGraceSecs (%d), or Kubernetes kills pods mid-shutdown" $grace (int $needed)) }}
{{- end }}
{{- $budget := int .Values.database.connectionBudget }}
{{- if gt $budget 0 }}
{{- $total := 0 }}
{{- $parts := list }}
{{- range $key, $component := include "incident.components" . | fromYaml }}
{{- $svc := index $.Values $key }}
{{- if $svc.enabled }}
{{- $pods := int (include "incident.maxPods" $svc) }}
{{- $total = add $total (mul $pods (int $svc.databaseMaxConnections)) }}
{{- $parts = append $parts (printf "%s %d x %d" $component $pods (int $svc.databaseMaxConnections)) }}
{{- end }}
{{- end }}
{{- if .Values.topologyJob.enabled }}
{{- $total = add $total (int .Values.topologyJob.databaseMaxConnections) }}
{{- $parts = append $parts (printf "install job %d" (int .Values.topologyJob.databaseMaxConnections)) }}
{{- end }}
{{- if gt (int $total) $budget }}
{{- fail (printf "the pools can open %d PostgreSQL connections (%s: pods at most, rolling surge included, x databaseMaxConnections), above database.connectionBudget=%d: lower <service>.databaseMaxConnections or replicas, raise max_connections and the budget, or put PgBouncer in front (README)" (int $total) (join ", " $parts) $budget) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The most pods one service can run at once: replicas (or the HPA's maxReplicas) plus
the rolling update's surge. Call with the service's values.
*/}}
{{- define "incident.maxPods" -}}
{{- $replicas := int .replicas }}
{{- if .autoscaling.enabled }}
{{- $replicas = int .autoscaling.maxReplicas }}
{{- end }}
{{- $surge := .strategy.maxSurge }}
{{- if kindIs "string" $surge }}
{{- $pct := int (trimSuffix "%" $surge) }}
{{- $surge = div (add (mul $replicas $pct) 99) 100 }}
{{- end }}
{{- add $replicas (int $surge) }}
{{- end }}
