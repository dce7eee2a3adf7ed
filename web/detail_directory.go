package web

import "slices"

// deactivatedPending lists, by name, the witnesses the ceremony still waits for
// whom the directory deactivated: as the ceremony heard it (directory-changed)
// or, should Temporal have missed the word, as the directory says now.
func (v detailView) deactivatedPending() []string {
	if !v.State.Status.Open() {
		return nil
	}
	var out []string
	for _, id := range v.State.Pending {
		if v.isDeactivated(id) {
			out = append(out, v.People.name(id))
		}
	}
	return out
}

// isDeactivated says whether a witness is deactivated: as the ceremony heard it
// (directory-changed) or as the directory says now.
func (v detailView) isDeactivated(id string) bool {
	return slices.Contains(v.State.Deactivated, id) || v.People.deactivated(id)
}

// cannotSign says why a witness the ceremony still waits for may not sign it
// (deactivated, or no longer holding the role it lists them with); "" when
// that is not the viewer's case.
func (v detailView) cannotSign(me *viewer) string {
	if !v.IsWitness || v.CanSign || v.MySig != nil || v.IsInitiator || !v.State.Status.Open() || !v.Live {
		return ""
	}
	if ref := mayViewerSign(me, v.State); ref != nil {
		return ref.Text
	}
	return ""
}
