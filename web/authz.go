package web

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/rules"
)

// Who may do what, checked on the server for every page, form and API call; the
// pages only hide what these refuse. Roles come from the directory (the
// identity provider's groups, or an admin). A person the directory does not
// know, or has deactivated, holds no role.

// active reports whether the viewer is an active person in the directory.
func (v *viewer) active() bool { return v != nil && v.Witness != nil && v.Witness.Active() }

// isAdmin: keeps the directory and the templates, and may withdraw any ceremony.
func (v *viewer) isAdmin() bool {
	return v.active() && slices.Contains(v.Witness.Roles, rules.RoleAdmin)
}

// mayRead: ceremonies, comments, evidence and the chain are for people the
// directory gives a role (any role; rules.RoleReader for reading only). Someone
// the identity provider accepts but the directory does not know, or who holds
// no role, reads nothing.
func (v *viewer) mayRead() bool { return v.active() && len(v.Witness.Roles) > 0 }

// person is the viewer as templates see them.
func (v *viewer) person() rules.Person {
	if !v.active() {
		return rules.Person{}
	}
	return rules.Person{ID: v.ID, Roles: v.Witness.Roles, Active: true}
}

// mayOpen: the template lets them open ceremonies from it (admins always may).
func (v *viewer) mayOpen(t rules.Template) bool { return v.active() && rules.MayOpen(t, v.person()) }

// mayWithdraw: an open ceremony's initiator, or an admin.
func (v *viewer) mayWithdraw(st contract.State) bool {
	return st.Status != "" && !st.Status.Final() && v.active() && (v.ID == st.Spec.Initiator || v.isAdmin())
}

// requireAdmin refuses everyone but admins, with a page or a JSON problem.
func (a *App) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerFrom(r.Context())
		if !v.isAdmin() {
			id := ""
			if v != nil {
				id = v.ID
			}
			a.log.Warn("admin-only request refused", "path", r.URL.Path, "method", r.Method, "viewer", id)
			if strings.HasPrefix(r.URL.Path, "/api/") {
				problem(w, http.StatusForbidden, "admins only", "Only an admin may do this.")
				return
			}
			a.errorPage(w, r, http.StatusForbidden, "Admins only", "Only an admin may see or change this. Admins are people with the admin role in the directory; ask one if you need this.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireReader refuses logged-in people who may not read (mayRead), with a
// page (or a JSON problem) that says why and whom to ask.
func (a *App) requireReader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := viewerFrom(r.Context())
		if v == nil || v.mayRead() {
			next.ServeHTTP(w, r)
			return
		}
		title, why := a.whyNoRead(r.Context(), v)
		a.log.Warn("read refused", "viewer", v.ID, "path", r.URL.Path, "why", title)
		if wantsJSON(r) {
			problem(w, http.StatusForbidden, strings.ToLower(title), why)
			return
		}
		a.errorPage(w, r, http.StatusForbidden, title, why)
	})
}

// whyNoRead says why v may not read, and whom to ask: they are not in the
// directory, or hold no role there. (A deactivated person never gets here:
// loadSession and bearer turn them away first.)
func (a *App) whyNoRead(ctx context.Context, v *viewer) (title, why string) {
	ask := "Ask an admin of Guildhall"
	if admins := a.adminNames(ctx); len(admins) > 0 {
		ask += " (" + strings.Join(admins, ", ") + ")"
	}
	if v.Witness == nil {
		return "Not in the directory", "You are logged in as " + v.ID + ", which is not registered as a witness in Guildhall's directory, " +
			"so you cannot see its ceremonies, evidence or chain of custody. Reading needs a role: one your identity provider's groups map to, " +
			"or the " + rules.RoleReader + " role an admin gives. " + ask + " to add you, then log in again."
	}
	return "No role", "You are in Guildhall's directory as " + v.ID + " but hold no role, so you cannot see its ceremonies, evidence or chain of custody. " +
		ask + " to give you one (" + rules.RoleReader + " is enough to read), or to be put in a group your identity provider maps to a Guildhall role."
}

// adminNames are the active admins' names, for whom to ask (a few at most).
func (a *App) adminNames(ctx context.Context) []string {
	ws, err := a.store.ListWitnesses(ctx)
	if err != nil {
		a.log.Warn("list admins for a refusal", "err", err)
		return nil
	}
	var out []string
	for _, w := range ws {
		if w.Active() && slices.Contains(w.Roles, rules.RoleAdmin) && len(out) < 5 {
			out = append(out, w.DisplayName)
		}
	}
	return out
}

// wantsJSON: the request is to the JSON API or from the pages' script, so a
// refusal is a problem document, not a page.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") ||
		strings.Contains(r.Header.Get("Accept"), "application/json")
}
