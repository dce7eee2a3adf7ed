package intune

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/guildhouse/guildhall/rules"
)

// appURL is the URL of a mobileApp, or of one of its sub-resources.
func (c *Client) appURL(appID string, sub ...string) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + "/deviceAppManagement/mobileApps/" + url.PathEscape(appID)
	for _, s := range sub {
		u.Path += "/" + s
	}
	return u.String()
}

// GetApp reads an Intune app: GET /deviceAppManagement/mobileApps/{id}.
func (c *Client) GetApp(ctx context.Context, appID string) (MobileApp, error) {
	return c.getApp(ctx, nil, appID)
}

func (c *Client) getApp(ctx context.Context, rec *recorder, appID string) (MobileApp, error) {
	if !rules.IsGUID(appID) {
		return MobileApp{}, &Error{Kind: KindInvalid, Op: "get app", Message: fmt.Sprintf("%q is not an Intune app id", appID)}
	}
	var a appAnswer
	if err := c.send(ctx, rec, "get app", http.MethodGet, c.appURL(appID), nil, &a); err != nil {
		return MobileApp{}, notFoundApp(err, appID)
	}
	return a.app(), nil
}

// appAnswer reads GET …/mobileApps/{id}. The Intune reference pages show the
// entity wrapped in "value"; the service answers with the entity itself. Both
// are read.
type appAnswer struct {
	MobileApp
	Value *MobileApp `json:"value"`
}

func (a appAnswer) app() MobileApp {
	if a.ID == "" && a.Value != nil {
		return *a.Value
	}
	return a.MobileApp
}

// notFoundApp says which app a 404 was about.
func notFoundApp(err error, appID string) error {
	if e, ok := err.(*Error); ok && e.Kind == KindNotFound {
		e.Message = fmt.Sprintf("no Intune app with id %s in this tenant (%s)", appID, e.Message)
	}
	return err
}

// maxPages guards against a next-link loop.
const maxPages = 1000

// ListAssignments reads all of an app's assignments, following @odata.nextLink:
// GET /deviceAppManagement/mobileApps/{id}/assignments.
func (c *Client) ListAssignments(ctx context.Context, appID string) ([]Assignment, error) {
	return c.listAssignments(ctx, nil, appID)
}

func (c *Client) listAssignments(ctx context.Context, rec *recorder, appID string) ([]Assignment, error) {
	if !rules.IsGUID(appID) {
		return nil, &Error{Kind: KindInvalid, Op: "list assignments", Message: fmt.Sprintf("%q is not an Intune app id", appID)}
	}
	var out []Assignment
	next := c.appURL(appID, "assignments")
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, &Error{Kind: KindInvalid, Op: "list assignments", Message: fmt.Sprintf("more than %d pages of assignments", maxPages)}
		}
		if err := c.sameOrigin(next); err != nil {
			return nil, err
		}
		var p assignmentPage
		if err := c.send(ctx, rec, "list assignments", http.MethodGet, next, nil, &p); err != nil {
			return nil, notFoundApp(err, appID)
		}
		out = append(out, p.Value...)
		next = p.NextLink
	}
	return out, nil
}

// sameOrigin refuses a next link that leaves the configured Graph endpoint: the
// bearer token goes only where it was meant to.
func (c *Client) sameOrigin(link string) error {
	u, err := url.Parse(link)
	if err == nil && u.Scheme == c.base.Scheme && u.Host == c.base.Host && strings.HasPrefix(u.Path, c.base.Path) {
		return nil
	}
	return &Error{Kind: KindInvalid, Op: "list assignments", Message: fmt.Sprintf("Graph sent a next-page link outside %s; not followed", c.base)}
}

// Assign replaces an app's assignments with exactly as:
// POST /deviceAppManagement/mobileApps/{id}/assign (204 No Content).
func (c *Client) Assign(ctx context.Context, appID string, as []Assignment) error {
	return c.assign(ctx, nil, appID, as)
}

func (c *Client) assign(ctx context.Context, rec *recorder, appID string, as []Assignment) error {
	if !rules.IsGUID(appID) {
		return &Error{Kind: KindInvalid, Op: "assign", Message: fmt.Sprintf("%q is not an Intune app id", appID)}
	}
	if as == nil {
		as = []Assignment{}
	}
	body, err := json.Marshal(AssignRequest{MobileAppAssignments: as})
	if err != nil {
		return &Error{Kind: KindInvalid, Op: "assign", Message: err.Error(), Err: err}
	}
	return notFoundApp(c.send(ctx, rec, "assign", http.MethodPost, c.appURL(appID, "assign"), body, nil), appID)
}
