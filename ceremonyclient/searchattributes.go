package ceremonyclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/guildhouse/guildhall/contract"
)

// SetupCommand is what an operator runs to register the contract's search
// attributes; every message about missing ones names it.
const SetupCommand = "guildhall temporal setup"

// SearchAttribute is one of the contract's search attributes as a namespace has it.
type SearchAttribute struct {
	Name string
	Type enumspb.IndexedValueType // what the contract needs
	// Registered is the type the namespace has under this name, or
	// INDEXED_VALUE_TYPE_UNSPECIFIED when it has none.
	Registered enumspb.IndexedValueType
	// Added is set by EnsureSearchAttributes for the ones it registered.
	Added bool
}

// Missing reports that the namespace has no attribute of this name.
func (a SearchAttribute) Missing() bool {
	return a.Registered == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED
}

// Mistyped reports that the namespace has the name with another type.
func (a SearchAttribute) Mistyped() bool {
	return !a.Missing() && a.Registered != a.Type
}

func (a SearchAttribute) String() string {
	switch {
	case a.Missing():
		return fmt.Sprintf("%s (%s) is missing", a.Name, a.Type)
	case a.Mistyped():
		return fmt.Sprintf("%s is %s, the workflow needs %s", a.Name, a.Registered, a.Type)
	}
	return fmt.Sprintf("%s (%s)", a.Name, a.Type)
}

// SearchAttributesError says which of the contract's search attributes a
// namespace lacks or has with another type.
type SearchAttributesError struct {
	Namespace string
	Wrong     []SearchAttribute // missing or mistyped, in contract order
}

func (e *SearchAttributesError) Error() string {
	what := make([]string, len(e.Wrong))
	mistyped := false
	for i, a := range e.Wrong {
		what[i] = a.String()
		mistyped = mistyped || a.Mistyped()
	}
	msg := fmt.Sprintf("Temporal namespace %q is not set up for Guildhall: search attribute %s. ", e.Namespace, strings.Join(what, "; "))
	if mistyped {
		return msg + "A search attribute's type cannot be changed: remove the wrong one (`temporal operator search-attribute remove --namespace " +
			e.Namespace + " --name NAME`; workflows lose that field in the Temporal UI), then run `" + SetupCommand + "`"
	}
	return msg + "Register them with `" + SetupCommand + "` (same TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE), then start again"
}

// SearchAttributes lists the contract's search attributes as the namespace has
// them (one ListSearchAttributes call).
func (c *Client) SearchAttributes(ctx context.Context, namespace string) ([]SearchAttribute, error) {
	resp, err := c.t.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, describeSetupError("list the search attributes of", namespace, err)
	}
	out := make([]SearchAttribute, len(contract.SearchAttributeTypes))
	for i, sa := range contract.SearchAttributeTypes {
		want, err := enumspb.IndexedValueTypeFromString(sa[1])
		if err != nil {
			return nil, fmt.Errorf("contract search attribute %s: %w", sa[0], err)
		}
		out[i] = SearchAttribute{Name: sa[0], Type: want, Registered: resp.GetCustomAttributes()[sa[0]]}
	}
	return out, nil
}

// CheckSearchAttributes returns a *SearchAttributesError when the namespace
// lacks one of the contract's search attributes or has it with another type.
// The worker, the web app and the watcher call it at start-up, so a cluster
// that was never set up fails there, with the fix, instead of at the first
// ceremony.
func (c *Client) CheckSearchAttributes(ctx context.Context, namespace string) error {
	sas, err := c.SearchAttributes(ctx, namespace)
	if err != nil {
		return err
	}
	return wrongOnes(namespace, sas, func(a SearchAttribute) bool { return a.Missing() || a.Mistyped() })
}

func wrongOnes(namespace string, sas []SearchAttribute, wrong func(SearchAttribute) bool) error {
	e := &SearchAttributesError{Namespace: namespace}
	for _, a := range sas {
		if wrong(a) {
			e.Wrong = append(e.Wrong, a)
		}
	}
	if len(e.Wrong) > 0 {
		return e
	}
	return nil
}

// NamespaceCacheRefresh is how long after registering search attributes every
// Temporal service has them: a little more than the server's namespace cache
// refresh interval (system.namespaceCacheRefreshInterval, 2 s by default).
const NamespaceCacheRefresh = 2500 * time.Millisecond

// EnsureSearchAttributes registers the contract's search attributes the
// namespace lacks (one AddSearchAttributes call for all of them) and waits until
// workflows can use them. Attributes already there are left alone, so it is safe
// to run again. A mistyped one is refused before anything is added: its type
// cannot be changed in place. The result says what was there and what was added.
func (c *Client) EnsureSearchAttributes(ctx context.Context, namespace string) ([]SearchAttribute, error) {
	sas, err := c.SearchAttributes(ctx, namespace)
	if err != nil {
		return nil, err
	}
	if err := wrongOnes(namespace, sas, SearchAttribute.Mistyped); err != nil {
		return sas, err
	}
	add := map[string]enumspb.IndexedValueType{}
	for i, a := range sas {
		if a.Missing() {
			add[a.Name] = a.Type
			sas[i].Added = true
		}
	}
	if len(add) == 0 {
		return sas, nil
	}
	_, err = c.t.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: add})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) { // another setup ran at the same time
		return sas, describeSetupError("add search attributes to", namespace, err)
	}
	// The server lists them at once, but its services map them to visibility
	// columns from a namespace cache each refreshes every few seconds: wait until
	// the frontend accepts a query that names every one of them, and until the
	// history services (which check a workflow's upserts, each host with its own
	// cache, none of which a client can ask) have refreshed since the write.
	settled := time.Now().Add(NamespaceCacheRefresh)
	probe := usableQuery(sas)
	for {
		now, err := c.SearchAttributes(ctx, namespace)
		if err != nil {
			return sas, err
		}
		if wrongOnes(namespace, now, func(a SearchAttribute) bool { return a.Missing() || a.Mistyped() }) == nil {
			_, err = c.t.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: probe})
			if err == nil {
				for i := range sas {
					sas[i].Registered = now[i].Registered
				}
				return sas, waitUntil(ctx, settled, namespace)
			}
		}
		select {
		case <-ctx.Done():
			return sas, fmt.Errorf("search attributes added to namespace %q but not yet usable in queries: %w", namespace, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitUntil waits for the rest of the namespace cache refresh after the write.
func waitUntil(ctx context.Context, settled time.Time, namespace string) error {
	t := time.NewTimer(time.Until(settled))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("search attributes added to namespace %q; waiting for every Temporal service to have them: %w", namespace, ctx.Err())
	case <-t.C:
		return nil
	}
}

// usableQuery is a visibility query that names every attribute, so the server
// accepts it only once it maps all of them.
func usableQuery(sas []SearchAttribute) string {
	terms := make([]string, len(sas))
	for i, a := range sas {
		v := "''"
		if a.Type == enumspb.INDEXED_VALUE_TYPE_DATETIME {
			v = "'1970-01-01T00:00:00Z'"
		}
		terms[i] = a.Name + " = " + v
	}
	return strings.Join(terms, " OR ")
}

// describeSetupError puts the server's refusals in operator's words.
func describeSetupError(doing, namespace string, err error) error {
	var (
		nf     *serviceerror.NamespaceNotFound
		denied *serviceerror.PermissionDenied
		unimpl *serviceerror.Unimplemented
	)
	switch {
	case errors.As(err, &nf):
		return fmt.Errorf("Temporal namespace %q does not exist: create it first (`temporal operator namespace create --namespace %s --retention 30d`): %w", namespace, namespace, err)
	case errors.As(err, &denied):
		return fmt.Errorf("the Temporal server refused to %s namespace %q (permission denied; this needs an admin identity, or ask the Temporal operator to run `%s`): %w", doing, namespace, SetupCommand, err)
	case errors.As(err, &unimpl):
		return fmt.Errorf("the Temporal server does not offer the operator API needed to %s namespace %q: %w", doing, namespace, err)
	}
	return fmt.Errorf("%s namespace %q: %w", doing, namespace, err)
}
