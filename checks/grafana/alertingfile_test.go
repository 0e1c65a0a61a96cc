package grafana

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	sdk "github.com/grafana/grafana-foundation-sdk/go/alerting"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// alertingFileV1 is Grafana's alerting file-provisioning envelope, with the keys Grafana's
// documentation gives it ("Create and manage alerting resources using file provisioning") that this
// repository uses: any other key fails the decoding instead of being ignored. The Foundation SDK has
// types for the resources but not for this envelope (Grafana's own is in grafana/grafana, AGPL-3.0
// and not a published module). The items inside are decoded into the SDK's published types.
type alertingFileV1 struct {
	APIVersion          int64                  `yaml:"apiVersion"`
	Groups              []ruleGroupV1          `yaml:"groups"`
	ContactPoints       []contactPointV1       `yaml:"contactPoints"`
	DeleteContactPoints []deleteContactPointV1 `yaml:"deleteContactPoints"`
	Policies            []yaml.Node            `yaml:"policies"`
	Templates           []yaml.Node            `yaml:"templates"`
}

type ruleGroupV1 struct {
	OrgID    int64       `yaml:"orgId"`
	Name     string      `yaml:"name"`
	Folder   string      `yaml:"folder"`
	Interval string      `yaml:"interval"`
	Rules    []yaml.Node `yaml:"rules"`
}

type contactPointV1 struct {
	OrgID     int64       `yaml:"orgId"`
	Name      string      `yaml:"name"`
	Receivers []yaml.Node `yaml:"receivers"`
}

type deleteContactPointV1 struct {
	OrgID int64  `yaml:"orgId"`
	UID   string `yaml:"uid"`
}

// alertingFile is a decoded alerting provisioning file.
type alertingFile struct {
	Groups        []ruleGroup
	ContactPoints []contactPoint
	Policies      []sdk.NotificationPolicy
	Templates     []sdk.NotificationTemplate
}

type ruleGroup struct {
	Name, Folder string
	Rules        []sdk.Rule
}

type contactPoint struct {
	Name string
	// Integrations as the SDK types them; settings are expanded from the environment.
	Integrations []sdk.ContactPoint
	// The webhook integrations among them, with their settings typed (settings_test.go).
	Webhooks []webhookIntegration
}

type webhookIntegration struct {
	UID                   string
	DisableResolveMessage bool
	Settings              webhookSettings
}

// loadAlertingFile decodes an alerting provisioning file strictly, expanding environment variables
// from env where Grafana does (contact point settings).
func loadAlertingFile(path string, env map[string]string) (*alertingFile, error) {
	registerPlugins.Do(plugins.RegisterDefaultPlugins)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file alertingFileV1
	if err := decodeYAMLStrict(data, &file); err != nil {
		return nil, err
	}
	if file.APIVersion != 1 {
		return nil, fmt.Errorf("apiVersion %d, expected 1", file.APIVersion)
	}
	out := &alertingFile{}
	for _, group := range file.Groups {
		decoded, err := decodeRuleGroup(group)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", group.Name, err)
		}
		out.Groups = append(out.Groups, decoded)
	}
	for _, point := range file.ContactPoints {
		decoded, err := decodeContactPoint(point, env)
		if err != nil {
			return nil, fmt.Errorf("contact point %q: %w", point.Name, err)
		}
		out.ContactPoints = append(out.ContactPoints, decoded)
	}
	for i := range file.Policies {
		var policy sdk.NotificationPolicy
		if err := decodeOrgItem(&file.Policies[i], policy.UnmarshalJSONStrict); err != nil {
			return nil, fmt.Errorf("policies[%d]: %w", i, err)
		}
		out.Policies = append(out.Policies, policy)
	}
	for i := range file.Templates {
		var template sdk.NotificationTemplate
		if err := decodeOrgItem(&file.Templates[i], template.UnmarshalJSONStrict); err != nil {
			return nil, fmt.Errorf("templates[%d]: %w", i, err)
		}
		out.Templates = append(out.Templates, template)
	}
	for i, deletion := range file.DeleteContactPoints {
		if deletion.UID == "" {
			return nil, fmt.Errorf("deleteContactPoints[%d]: no uid", i)
		}
	}
	return out, nil
}

// decodeOrgItem decodes a policy or template: the file adds orgId beside the API type's fields.
func decodeOrgItem(node *yaml.Node, unmarshalStrict func([]byte) error) error {
	item, err := nodeMap(node)
	if err != nil {
		return err
	}
	delete(item, "orgId")
	data, err := json.Marshal(item)
	if err != nil {
		return err
	}
	return strict(unmarshalStrict, data)
}

func nodeMap(node *yaml.Node) (map[string]any, error) {
	data, err := nodeJSON(node)
	if err != nil {
		return nil, err
	}
	var item map[string]any
	if err := json.Unmarshal(data, &item); err != nil {
		return nil, err
	}
	return item, nil
}

// decodeRuleGroup decodes each rule into the SDK's Rule (the provisioning API's type). A file rule
// leaves out what its group gives, so those fields are filled from the group as Grafana does when it
// maps the file to its model; the folder's title stands for its UID, which Grafana generates.
func decodeRuleGroup(group ruleGroupV1) (ruleGroup, error) {
	if group.Name == "" || group.Folder == "" {
		return ruleGroup{}, errors.New("name and folder are required")
	}
	if _, err := model.ParseDuration(group.Interval); err != nil {
		return ruleGroup{}, fmt.Errorf("interval: %w", err)
	}
	decoded := ruleGroup{Name: group.Name, Folder: group.Folder}
	for i := range group.Rules {
		item, err := nodeMap(&group.Rules[i])
		if err != nil {
			return ruleGroup{}, err
		}
		item["orgID"] = max(group.OrgID, 1)
		item["ruleGroup"] = group.Name
		item["folderUID"] = group.Folder
		data, err := json.Marshal(item)
		if err != nil {
			return ruleGroup{}, err
		}
		var rule sdk.Rule
		if err := strict(rule.UnmarshalJSONStrict, data); err != nil {
			return ruleGroup{}, fmt.Errorf("rules[%d]: %w", i, err)
		}
		if _, err := model.ParseDuration(rule.For); err != nil {
			return ruleGroup{}, fmt.Errorf("rules[%d].for: %w", i, err)
		}
		decoded.Rules = append(decoded.Rules, rule)
	}
	return decoded, nil
}

// decodeContactPoint decodes each receiver into the SDK's ContactPoint (the integration's fields),
// and its settings, which the SDK leaves untyped, into the type for its integration
// (settings_test.go): a setting that is unknown or of the wrong type fails.
func decodeContactPoint(point contactPointV1, env map[string]string) (contactPoint, error) {
	if point.Name == "" {
		return contactPoint{}, errors.New("no name")
	}
	decoded := contactPoint{Name: point.Name}
	for i := range point.Receivers {
		item, err := nodeMap(&point.Receivers[i])
		if err != nil {
			return contactPoint{}, err
		}
		settings, err := expandEnvIn(item["settings"], env)
		if err != nil {
			return contactPoint{}, fmt.Errorf("receivers[%d].settings: %w", i, err)
		}
		item["settings"] = settings
		item["name"] = point.Name
		data, err := json.Marshal(item)
		if err != nil {
			return contactPoint{}, err
		}
		var integration sdk.ContactPoint
		if err := strict(integration.UnmarshalJSONStrict, data); err != nil {
			return contactPoint{}, fmt.Errorf("receivers[%d]: %w", i, err)
		}
		typed, err := decodeSettings(string(integration.Type), settings)
		if err != nil {
			return contactPoint{}, fmt.Errorf("receivers[%d].settings (%s): %w", i, integration.Type, err)
		}
		decoded.Integrations = append(decoded.Integrations, integration)
		if webhook, ok := typed.(*webhookSettings); ok {
			decoded.Webhooks = append(decoded.Webhooks, webhookIntegration{
				UID:                   deref(integration.Uid),
				DisableResolveMessage: deref(integration.DisableResolveMessage),
				Settings:              *webhook,
			})
		}
	}
	return decoded, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
