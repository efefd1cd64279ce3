{{/*
The public routes, by owner: each path prefix goes to the service whose router serves it
(tests/system/ingress.rs checks every route of every router against the rendered
Ingress). core also takes the rest of /api/v1, so an unknown API path answers core's
problem+json 404. /ui and /status are for the web app and status page to come: its pages
are served by the service owning their data.
*/}}
{{- define "incident.routes" -}}
core:
  - /api/v1/incidents
  - /api/v1/users
  - /api/v1/tokens
  - /api/v1/sla-policies
  - /api/v1/workspaces
  - /api/v1/openapi.json
  - /api/v1
  - /status
  - /ui
ingestion:
  - /webhooks
  - /api/v1/integrations
  - /api/v1/alert-groups
  - /api/v1/ingestion
  - /ui/alerts
  - /ui/integrations
warroom:
  - /slack
  - /api/v1/warroom
  - /ui/settings/war-room
postmortem:
  - /api/v1/postmortems
  - /api/v1/action-items
  - /api/v1/postmortem
  - /ui/postmortems
  - /ui/settings/postmortems
slaWatchdog:
  - /api/v1/drills
  - /ui/drills
{{- end }}

{{/*
Routes one owner serves under another owner's prefix, as regular expressions (an
ImplementationSpecific path): POST and GET /api/v1/incidents/{id}/postmortem.
*/}}
{{- define "incident.nestedRoutes" -}}
postmortem:
  - /api/v1/incidents/[^/]+/postmortem$
{{- end }}

{{/*
The host of one service's routes. Call with (dict "root" $ "service" "core").
*/}}
{{- define "incident.ingressHost" -}}
{{- $ing := .root.Values.ingress }}
{{- if $ing.hostPerService }}
{{- $host := index $ing.hosts .service }}
{{- if not $host }}
{{- fail (printf "ingress.hostPerService is on: set ingress.hosts.%s" .service) }}
{{- end }}
{{- $host }}
{{- else }}
{{- required "ingress.host is required" $ing.host }}
{{- end }}
{{- end }}

{{/*
The Ingress rules: host -> list of {path, pathType, service}, for the given routes
(YAML service -> paths) and pathType, plus extraPaths when `extra` is true. Returned as
YAML; use with fromYaml.
*/}}
{{- define "incident.ingressRules" -}}
{{- $root := .root }}
{{- $rules := dict }}
{{- $entries := list }}
{{- range $service, $paths := .routes }}
{{- range $paths }}
{{- $entries = append $entries (dict "path" . "pathType" $.pathType "service" $service) }}
{{- end }}
{{- end }}
{{- if .extra }}
{{- range $root.Values.ingress.extraPaths }}
{{- $entries = append $entries (dict "path" .path "pathType" (.pathType | default "Prefix") "service" .service) }}
{{- end }}
{{- end }}
{{- range $entries }}
{{- if not (has .service (list "core" "ingestion" "warroom" "postmortem" "slaWatchdog")) }}
{{- fail (printf "ingress path %s: service must be core, ingestion, warroom, postmortem or slaWatchdog, not %q" .path .service) }}
{{- end }}
{{- if (index $root.Values .service).enabled }}
{{- $host := include "incident.ingressHost" (dict "root" $root "service" .service) }}
{{- $_ := set $rules $host (append (get $rules $host | default list) .) }}
{{- end }}
{{- end }}
{{- toYaml $rules }}
{{- end }}
