package web

import (
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

// mayReapplyIntune: only admins carry a sealed Intune decision out again (it
// makes Graph calls in the organisation's tenant).
func (v *viewer) mayReapplyIntune() bool { return v.isAdmin() }

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
