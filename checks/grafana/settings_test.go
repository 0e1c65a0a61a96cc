package grafana

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// The settings of the integration types this repository provisions. The foundation SDK leaves a
// contact point's settings untyped (alerting.ContactPoint.Settings is free-form JSON) and Grafana's
// typed settings live in github.com/grafana/alerting, which is AGPL-3.0 and not used here, so they
// are restated from Grafana's documentation:
//   - the keys and types of each integration's settings in "Create and manage alerting resources
//     using file provisioning" (Settings: Webhook, Slack, E-Mail);
//   - the webhook's templated Title and Message in "Configure webhook notifications" (optional
//     settings using templates), sent as the payload's `title` and `message` fields.
//
// Only documented keys are listed. Grafana reads settings leniently and ignores a key it does not
// know, so a misspelled key is silently lost there; here it fails. Settings Grafana documents without
// naming their provisioning keys (the webhook's extra headers, TLS, HMAC, custom payload) are left
// out: using one fails here until it is added with its documented key.

// webhookSettings is a `type: webhook` integration's settings.
type webhookSettings struct {
	URL                      string    `json:"url"`
	HTTPMethod               string    `json:"httpMethod"`
	Username                 string    `json:"username"`
	Password                 string    `json:"password"`
	AuthorizationScheme      string    `json:"authorization_scheme"`
	AuthorizationCredentials string    `json:"authorization_credentials"`
	MaxAlerts                maxAlerts `json:"maxAlerts"`
	Title                    string    `json:"title"`
	Message                  string    `json:"message"`
}

func (s webhookSettings) validate() error {
	if err := absoluteURL(s.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	switch s.HTTPMethod {
	case "", "POST", "PUT":
	default:
		return fmt.Errorf("httpMethod %q: Grafana documents POST or PUT", s.HTTPMethod)
	}
	if (s.Username != "" || s.Password != "") && (s.AuthorizationScheme != "" || s.AuthorizationCredentials != "") {
		return errors.New("basic authentication and an Authorization header are exclusive (Grafana's documentation)")
	}
	return nil
}

// method is the HTTP method the webhook uses: POST unless httpMethod says PUT.
func (s webhookSettings) method() string {
	if s.HTTPMethod == "" {
		return "POST"
	}
	return s.HTTPMethod
}

// authorization is the Authorization header the webhook sends: the scheme (Bearer unless set) and
// the credentials.
func (s webhookSettings) authorization() string {
	if s.AuthorizationCredentials == "" {
		return ""
	}
	scheme := s.AuthorizationScheme
	if scheme == "" {
		scheme = "Bearer"
	}
	return scheme + " " + s.AuthorizationCredentials
}

// maxAlerts is documented as a string holding a number ('10'); a YAML number is accepted too.
type maxAlerts int

func (m *maxAlerts) UnmarshalJSON(data []byte) error {
	var number json.Number
	if err := json.Unmarshal(data, &number); err != nil {
		return fmt.Errorf("maxAlerts: %w", err)
	}
	n, err := strconv.Atoi(number.String())
	if err != nil || n < 0 {
		return fmt.Errorf("maxAlerts %s: not a whole number of alerts (0 for no limit)", data)
	}
	*m = maxAlerts(n)
	return nil
}

// slackSettings is a `type: slack` integration's settings.
type slackSettings struct {
	Recipient      string `json:"recipient"`
	Token          string `json:"token"`
	Username       string `json:"username"`
	IconEmoji      string `json:"icon_emoji"`
	IconURL        string `json:"icon_url"`
	MentionUsers   string `json:"mentionUsers"`
	MentionGroups  string `json:"mentionGroups"`
	MentionChannel string `json:"mentionChannel"`
	URL            string `json:"url"`
	EndpointURL    string `json:"endpointUrl"`
	Title          string `json:"title"`
	Text           string `json:"text"`
}

func (s slackSettings) validate() error {
	switch {
	case s.URL != "":
		return absoluteURL(s.URL)
	case s.Token == "" || s.Recipient == "":
		return errors.New("needs url (an incoming webhook), or token and recipient")
	}
	return nil
}

// emailSettings is a `type: email` integration's settings.
type emailSettings struct {
	Addresses   string `json:"addresses"`
	SingleEmail bool   `json:"singleEmail"`
	Message     string `json:"message"`
	Subject     string `json:"subject"`
}

func (s emailSettings) validate() error {
	if s.Addresses == "" {
		return errors.New("addresses is required")
	}
	return nil
}

type validated interface{ validate() error }

// decodeSettings decodes an integration's settings (already expanded from the environment) strictly
// into the type for its integration: a key the documentation does not list for that type, or a
// value of the wrong type, is an error.
func decodeSettings(integrationType string, settings any) (validated, error) {
	var typed validated
	switch integrationType {
	case "webhook":
		typed = &webhookSettings{}
	case "slack":
		typed = &slackSettings{}
	case "email":
		typed = &emailSettings{}
	default:
		return nil, fmt.Errorf("no settings type for integration type %q here: add one from Grafana's documentation", integrationType)
	}
	data, err := json.Marshal(settings)
	if err != nil {
		return nil, err
	}
	if err := decodeJSONStrict(data, typed); err != nil {
		return nil, err
	}
	if err := typed.validate(); err != nil {
		return nil, err
	}
	return typed, nil
}

func absoluteURL(text string) error {
	parsed, err := url.Parse(text)
	if err != nil {
		return err
	}
	if (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", text)
	}
	return nil
}
