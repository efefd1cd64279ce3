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
