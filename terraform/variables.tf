variable "project_id" {
  description = "Project that hosts the function, its topics, secret and service accounts."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the function, its source bucket and its image repository."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Cloud region such as us-central1 or europe-west1."
  }
}

variable "name" {
  description = "Name of the function (and of its Cloud Run service); also the stem of the service accounts, bucket and repository names."
  type        = string
  default     = "geminihook"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{3,20}[a-z0-9]$", var.name))
    error_message = "name must be 5 to 22 lowercase letters, digits or hyphens, start with a letter and end with a letter or digit (service account IDs derived from it are limited to 30 characters)."
  }
}

variable "labels" {
  description = "Labels applied to every resource that takes labels."
  type        = map(string)
  default     = {}
}

variable "enable_apis" {
  description = "Enable the APIs the deployment needs. Set to false when the project's APIs are managed elsewhere."
  type        = bool
  default     = true
}

variable "project_number" {
  description = "Number of project_id. Unset: read from the Cloud Resource Manager API once the module has enabled it (on a brand-new project, during the first apply)."
  type        = string
  default     = null

  validation {
    condition     = var.project_number == null ? true : can(regex("^[1-9][0-9]{5,18}$", var.project_number))
    error_message = "project_number must be the project's number, digits only."
  }
}

variable "deployer_member" {
  description = "The principal that runs Terraform, e.g. \"serviceAccount:deployer@my-project.iam.gserviceaccount.com\". Set: the module grants it roles/iam.serviceAccountUser (iam.serviceAccounts.actAs) on the runtime and build accounts it creates, which deploying the function needs. Unset: the deployer must hold actAs some other way (terraform/README.md)."
  type        = string
  default     = null

  validation {
    condition     = var.deployer_member == null ? true : can(regex("^(serviceAccount|user|group|principal|principalSet):.+", var.deployer_member))
    error_message = "deployer_member must be an IAM principal such as serviceAccount:deployer@my-project.iam.gserviceaccount.com."
  }
}

variable "iam_propagation_wait" {
  description = "How long to wait after creating or changing the accounts' grants before building the function, as seconds with an s suffix. IAM changes usually take effect within a minute."
  type        = string
  default     = "90s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.iam_propagation_wait))
    error_message = "iam_propagation_wait must be a number of seconds such as \"90s\"."
  }
}

variable "source_retention_days" {
  description = "Age in days after which the source bucket deletes an archive. The function does not need it after its deploy; a deleted live archive is uploaded again by the next apply."
  type        = number
  default     = 30

  validation {
    condition     = var.source_retention_days >= 1 && floor(var.source_retention_days) == var.source_retention_days
    error_message = "source_retention_days must be a whole number of at least 1."
  }
}

variable "source_bucket_name" {
  description = "Bucket that holds the function's source archives. Unset: <project_id>-<name>-source."
  type        = string
  default     = null

  validation {
    condition     = var.source_bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.source_bucket_name))
    error_message = "source_bucket_name must be a valid bucket name: 3 to 63 lowercase letters, digits, hyphens, underscores or dots."
  }
}

# ---------------------------------------------------------------- Pub/Sub

variable "topic_prefix" {
  description = "Prefix of the five topic names: <prefix>batch, <prefix>interaction, <prefix>video, <prefix>other and <prefix>quarantine. Passed to the function as GEMINI_TOPIC_PREFIX."
  type        = string
  default     = "gemini-"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{0,200}$", var.topic_prefix)) && !startswith(lower(var.topic_prefix), "goog")
    error_message = "topic_prefix must start with a letter, use only letters, digits and - . _ ~ + %, be at most 201 characters and not start with \"goog\"."
  }
}

variable "message_retention_duration" {
  description = "How long each topic retains messages, so subscriptions created later can seek back: a number of seconds with an s suffix, from 600s to 2678400s (31 days)."
  type        = string
  default     = "604800s"

  validation {
    condition = (
      can(regex("^[0-9]+s$", var.message_retention_duration)) &&
      try(tonumber(trimsuffix(var.message_retention_duration, "s")) >= 600, false) &&
      try(tonumber(trimsuffix(var.message_retention_duration, "s")) <= 2678400, false)
    )
    error_message = "message_retention_duration must be between \"600s\" and \"2678400s\"."
  }
}

variable "subscriptions" {
  description = <<-EOT
    Subscriptions to create, by name. Each reads one family's topic:
    family (batch, interaction, video, other or quarantine), an optional filter on
    the message attributes (event_type, event_family, outcome, ...), an optional
    push_endpoint (pull when unset), ack_deadline_seconds (10 to 600), a retry_policy
    (minimum_backoff and maximum_backoff, e.g. "10s" and "600s") and dead_letter:
    set it (e.g. {} or { max_delivery_attempts = 10 }) to forward messages that fail
    max_delivery_attempts times (5 to 100, default 5) to a dead-letter topic
    "<name>-dead-letter", which gets its own pull subscription of the same name.
    push_auth (push only) makes Pub/Sub sign each push with an OIDC token for
    service_account_email (the deployer needs iam.serviceAccounts.actAs on it),
    with audience (default: the endpoint URL), so the endpoint can check it.
    enable_exactly_once_delivery (pull only, default false) turns on Pub/Sub's
    exactly-once delivery.
  EOT
  type = map(object({
    family        = string
    filter        = optional(string)
    push_endpoint = optional(string)
    push_auth = optional(object({
      service_account_email = string
      audience              = optional(string)
    }))
    ack_deadline_seconds         = optional(number)
    enable_exactly_once_delivery = optional(bool, false)
    retry_policy = optional(object({
      minimum_backoff = optional(string, "10s")
      maximum_backoff = optional(string, "600s")
    }))
    dead_letter = optional(object({
      max_delivery_attempts = optional(number, 5)
    }))
  }))
  default = {}

  validation {
    condition     = alltrue([for s in values(var.subscriptions) : contains(["batch", "interaction", "video", "other", "quarantine"], s.family)])
    error_message = "Each subscription's family must be one of batch, interaction, video, other or quarantine."
  }
  validation {
    condition     = alltrue([for name in keys(var.subscriptions) : can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,200}$", name)) && !startswith(lower(name), "goog")])
    error_message = "Subscription names must be 3 to 201 characters, start with a letter, use letters, digits and - . _ ~ + %, and not start with \"goog\"."
  }
  validation {
    condition     = alltrue([for s in values(var.subscriptions) : s.ack_deadline_seconds == null ? true : (s.ack_deadline_seconds >= 10 && s.ack_deadline_seconds <= 600)])
    error_message = "ack_deadline_seconds must be between 10 and 600."
  }
  validation {
    condition     = alltrue([for s in values(var.subscriptions) : s.dead_letter == null ? true : (s.dead_letter.max_delivery_attempts >= 5 && s.dead_letter.max_delivery_attempts <= 100)])
    error_message = "dead_letter.max_delivery_attempts must be between 5 and 100."
  }
  validation {
    condition = alltrue([for s in values(var.subscriptions) : s.retry_policy == null ? true : (
      can(regex("^[0-9]+(\\.[0-9]+)?s$", s.retry_policy.minimum_backoff)) &&
      can(regex("^[0-9]+(\\.[0-9]+)?s$", s.retry_policy.maximum_backoff)) &&
      try(tonumber(trimsuffix(s.retry_policy.minimum_backoff, "s")) <= tonumber(trimsuffix(s.retry_policy.maximum_backoff, "s")), false) &&
      try(tonumber(trimsuffix(s.retry_policy.maximum_backoff, "s")) <= 600, false)
    )])
    error_message = "retry_policy backoffs must be durations such as \"10s\", with minimum_backoff <= maximum_backoff <= \"600s\"."
  }
  validation {
    condition     = alltrue([for s in values(var.subscriptions) : s.push_endpoint == null ? true : startswith(s.push_endpoint, "https://")])
    error_message = "push_endpoint must be an https:// URL."
  }
  validation {
    # The provider's own check (verify.ValidateRegexp on filter): at most 256 characters.
    condition     = alltrue([for s in values(var.subscriptions) : s.filter == null ? true : length(s.filter) <= 256])
    error_message = "A subscription filter may be at most 256 characters."
  }
  validation {
    condition     = alltrue([for s in values(var.subscriptions) : s.push_auth == null ? true : s.push_endpoint != null])
    error_message = "push_auth needs a push_endpoint: only push subscriptions carry OIDC tokens."
  }
  validation {
    condition = alltrue([for s in values(var.subscriptions) : s.push_auth == null ? true : (
      can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$", s.push_auth.service_account_email)) ||
      can(regex("^[0-9]+-compute@developer\\.gserviceaccount\\.com$", s.push_auth.service_account_email))
    )])
    error_message = "push_auth.service_account_email must be a service account email such as pusher@my-project.iam.gserviceaccount.com."
  }
  validation {
    condition     = alltrue([for s in values(var.subscriptions) : !(s.enable_exactly_once_delivery && s.push_endpoint != null)])
    error_message = "enable_exactly_once_delivery works on pull subscriptions only; remove push_endpoint or the flag."
  }
}

# ----------------------------------------------------------------- secret

variable "secret_id" {
  description = "ID of the Secret Manager secret that holds the Gemini signing secret. Terraform creates the secret without any version: add the value with `geminihook register` or `gcloud secrets versions add`."
  type        = string
  default     = "gemini-webhook-secret"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.secret_id))
    error_message = "secret_id must be 1 to 255 letters, digits, hyphens or underscores."
  }
}

variable "create_api_key_secret" {
  description = "Create a Secret Manager secret for the Gemini API key (without a version: add the key yourself) and pass it to the function as GEMINI_API_KEY_SECRET, so that it can confirm deliveries against the Gemini API. Off by default: the function would point at an empty secret until the key is added."
  type        = bool
  default     = false
}

variable "api_key_secret_id" {
  description = "ID of the Secret Manager secret created for the Gemini API key when create_api_key_secret is true."
  type        = string
  default     = "gemini-api-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.api_key_secret_id))
    error_message = "api_key_secret_id must be 1 to 255 letters, digits, hyphens or underscores."
  }
}

variable "confirm" {
  description = "Which deliveries the function confirms against the Gemini API (GEMINI_CONFIRM): \"off\", \"dynamic\" or \"all\". Unset: the function's default (dynamic when an API key is configured)."
  type        = string
  default     = null

  validation {
    condition     = var.confirm == null ? true : contains(["off", "dynamic", "all"], var.confirm)
    error_message = "confirm must be \"off\", \"dynamic\" or \"all\"."
  }
}

variable "log_level" {
  description = "The function's log level (GEMINI_LOG_LEVEL): \"debug\", \"info\", \"warn\" or \"error\". \"warn\" drops the lines of deliveries answered 200 (published or duplicate) and keeps every line the alert metrics count. Unset: the function's default, info."
  type        = string
  default     = null

  validation {
    condition     = var.log_level == null ? true : contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be \"debug\", \"info\", \"warn\" or \"error\"."
  }
}

# ------------------------------------------------------- idempotency store

variable "dedupe" {
  description = "Where the function remembers deliveries it has published (GEMINI_DEDUPE): \"firestore\" (shared by all instances, survives restarts) or \"memory\" (per instance)."
  type        = string
  default     = "firestore"

  validation {
    condition     = contains(["memory", "firestore"], var.dedupe)
    error_message = "dedupe must be \"memory\" or \"firestore\"."
  }
}

variable "firestore_database" {
  description = "Firestore database of the idempotency store (GEMINI_FIRESTORE_DATABASE)."
  type        = string
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be \"(default)\" or 4 to 63 lowercase letters, digits or hyphens, starting with a letter and ending with a letter or digit."
  }
}

variable "create_firestore_database" {
  description = "Create firestore_database (native mode). Set to false to reuse one that exists already: a project's \"(default)\" database cannot be created twice."
  type        = bool
  default     = true
}

variable "firestore_location" {
  description = "Location of the Firestore database when it is created, e.g. \"nam5\" or \"eur3\" (multi-region) or a region. Unset: var.region."
  type        = string
  default     = null
}

variable "firestore_collection" {
  description = "Collection of the idempotency store's records (GEMINI_FIRESTORE_COLLECTION); Terraform puts a TTL policy on its expire_at field."
  type        = string
  default     = "geminihook-deliveries"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254}$", var.firestore_collection)) && !can(regex("^__.*__$", var.firestore_collection)) && var.firestore_collection != "." && var.firestore_collection != ".."
    error_message = "firestore_collection must be a top-level collection ID: 1 to 255 letters, digits, _, - or ., not . or .., not __name__."
  }
}

# ------------------------------------------------------- function settings

variable "jwt_audience" {
  description = "Accepted aud values of dynamic-webhook JWTs (GEMINI_JWT_AUDIENCE, joined with commas). Unset: the function's two URLs, https://REGION-PROJECT_ID.cloudfunctions.net/NAME and https://NAME-PROJECT_NUMBER.REGION.run.app. An empty list sets none, which turns dynamic webhooks off under dynamic_webhooks = \"auto\"."
  type        = list(string)
  default     = null

  validation {
    condition     = var.jwt_audience == null ? true : alltrue([for a in var.jwt_audience : a != "" && !strcontains(a, ",")])
    error_message = "jwt_audience entries must be non-empty and contain no comma."
  }
}

variable "jwt_issuer" {
  description = "Required iss of dynamic-webhook JWTs (GEMINI_JWT_ISSUER). Unset: not checked."
  type        = string
  default     = null
}

variable "jwks_url" {
  description = "Key set URL for dynamic webhooks (GEMINI_JWKS_URL). Unset: Gemini's published key set."
  type        = string
  default     = null

  validation {
    condition     = var.jwks_url == null ? true : startswith(var.jwks_url, "https://")
    error_message = "jwks_url must be an https:// URL."
  }
}

variable "dynamic_webhooks" {
  description = "Accept JWT-signed (dynamic, per-request) webhooks (GEMINI_DYNAMIC_WEBHOOKS): \"auto\" (on exactly when an audience is set), \"on\" or \"off\"."
  type        = string
  default     = "auto"

  validation {
    condition     = contains(["auto", "on", "off"], var.dynamic_webhooks)
    error_message = "dynamic_webhooks must be \"auto\", \"on\" or \"off\"."
  }
}

variable "timestamp_tolerance" {
  description = "Accepted clock distance of webhook-timestamp, both directions, as a Go duration (GEMINI_TIMESTAMP_TOLERANCE)."
  type        = string
  default     = "5m"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", var.timestamp_tolerance))
    error_message = "timestamp_tolerance must be a Go duration such as \"5m\" or \"90s\"."
  }
}

variable "max_body_bytes" {
  description = "Largest accepted request body in bytes (GEMINI_MAX_BODY_BYTES). Unset: the function's default of 1 MiB."
  type        = number
  default     = null

  validation {
    condition     = var.max_body_bytes == null ? true : (var.max_body_bytes >= 1024 && var.max_body_bytes <= 33554432 && floor(var.max_body_bytes) == var.max_body_bytes)
    error_message = "max_body_bytes must be a whole number between 1024 and 33554432 (32 MiB, Cloud Run's request limit)."
  }
}

variable "max_instance_count" {
  description = "Upper bound on function instances."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 1000 && floor(var.max_instance_count) == var.max_instance_count
    error_message = "max_instance_count must be a whole number between 1 and 1000."
  }
}

variable "min_instance_count" {
  description = "Instances kept warm. 0 scales to zero; 1 removes cold starts at the cost of an always-on instance."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instance_count >= 0 && var.min_instance_count <= 100 && floor(var.min_instance_count) == var.min_instance_count
    error_message = "min_instance_count must be a whole number between 0 and 100."
  }
}

variable "max_instance_request_concurrency" {
  description = "Requests one instance serves at once. A delivery mostly waits on its publish, so many fit on one vCPU; values above 1 need available_cpu of at least 1."
  type        = number
  default     = 80

  validation {
    condition     = var.max_instance_request_concurrency >= 1 && var.max_instance_request_concurrency <= 1000 && floor(var.max_instance_request_concurrency) == var.max_instance_request_concurrency
    error_message = "max_instance_request_concurrency must be a whole number between 1 and 1000."
  }
}

variable "available_cpu" {
  description = "vCPUs per instance, as Cloud Run accepts them: a fraction below 1 (\"0.083\" to \"0.999\") or \"1\", \"2\", \"4\", \"6\", \"8\"."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.available_cpu) || can(regex("^0\\.[0-9]{1,3}$", var.available_cpu))
    error_message = "available_cpu must be \"1\", \"2\", \"4\", \"6\", \"8\" or a fraction such as \"0.5\"."
  }
}

variable "available_memory" {
  description = "Memory per instance, e.g. \"256Mi\" or \"1Gi\"."
  type        = string
  default     = "256Mi"

  validation {
    condition     = can(regex("^[1-9][0-9]*(Mi|Gi|M|G)$", var.available_memory))
    error_message = "available_memory must be a quantity such as \"256Mi\" or \"1Gi\"."
  }
}

variable "timeout_seconds" {
  description = "Request timeout in seconds. A delivery answers 503 well before this when Pub/Sub is slow; keep it short."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be a whole number between 1 and 3600."
  }
}

variable "ingress_settings" {
  description = "Where requests may come from: ALLOW_ALL (Gemini calls from the internet), ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB (behind a load balancer)."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "public_invoker" {
  description = "Grant roles/run.invoker to allUsers on the function's Cloud Run service. Gemini cannot present Google credentials, so the webhook signature is the authentication; see README.md before turning this off."
  type        = bool
  default     = true
}

# ---------------------------------------------------------- observability

variable "create_log_metrics" {
  description = "Create the log-based metrics of rejected, quarantined and unavailable (503) deliveries. They are also created when an alert below needs them."
  type        = bool
  default     = true
}

variable "alert_on_rejections" {
  description = "Alert when rejected deliveries stay above rejection_alert_threshold for rejection_alert_duration."
  type        = bool
  default     = true
}

variable "rejection_alert_threshold" {
  description = "Rejected deliveries per 5 minutes above which the rejection alert fires."
  type        = number
  default     = 10

  validation {
    condition     = var.rejection_alert_threshold >= 0
    error_message = "rejection_alert_threshold must not be negative."
  }
}

variable "rejection_alert_duration" {
  description = "How long rejections must stay above the threshold before the alert fires, in seconds with an s suffix (multiple of 60s)."
  type        = string
  default     = "900s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.rejection_alert_duration)) && try(tonumber(trimsuffix(var.rejection_alert_duration, "s")) % 60 == 0, false)
    error_message = "rejection_alert_duration must be a whole number of minutes in seconds, e.g. \"900s\"."
  }
}

variable "alert_on_quarantine" {
  description = "Alert on any quarantined delivery: an authentic delivery the function could not understand."
  type        = bool
  default     = true
}

variable "alert_on_not_ready" {
  description = "Alert on any delivery answered 503 not_ready: the function cannot work (a configuration error, an unreadable secret, or a Gemini API key the API refuses)."
  type        = bool
  default     = true
}

variable "alert_on_unavailable" {
  description = "Alert when deliveries keep being answered 503 for another reason (Secret Manager, the JWKS, Pub/Sub or the Gemini API out of reach): Gemini retries each for 24 hours, then drops it."
  type        = bool
  default     = true
}

variable "unavailable_alert_threshold" {
  description = "Deliveries answered 503 (other than not_ready) per 15 minutes above which the unavailability alert fires."
  type        = number
  default     = 0

  validation {
    condition     = var.unavailable_alert_threshold >= 0
    error_message = "unavailable_alert_threshold must not be negative."
  }
}

variable "unavailable_alert_duration" {
  description = "How long 503s must stay above the threshold before the unavailability alert fires, in seconds with an s suffix (multiple of 60s)."
  type        = string
  default     = "1800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.unavailable_alert_duration)) && try(tonumber(trimsuffix(var.unavailable_alert_duration, "s")) % 60 == 0, false)
    error_message = "unavailable_alert_duration must be a whole number of minutes in seconds, e.g. \"1800s\"."
  }
}

variable "alert_emails" {
  description = "Email addresses the alerts notify; the module creates one email notification channel per address. Combine with notification_channels for other kinds of channel."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alert_emails entries must be email addresses."
  }
}

variable "notification_channels" {
  description = "Existing Monitoring notification channel IDs (projects/P/notificationChannels/N) the alerts notify, besides alert_emails."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels entries must look like projects/P/notificationChannels/N."
  }
}

variable "alert_on_dead_letters" {
  description = "Alert when any message waits on a dead-letter subscription (one policy per subscription that dead-letters)."
  type        = bool
  default     = true
}

variable "log_metric_propagation_wait" {
  description = "How long to wait after creating the log-based metrics before creating the alert policies on them, as seconds with an s suffix. Monitoring can answer 404 for a new metric for up to about ten minutes; the wait runs once, alongside the function's build."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.log_metric_propagation_wait))
    error_message = "log_metric_propagation_wait must be a number of seconds such as \"600s\"."
  }
}
