// Package intune carries a ceremony's Intune decision out through Microsoft
// Graph: a sealed release assigns an Intune app to the Entra groups the
// ceremony named, with the intent it decided; a revoked one withdraws those
// assignments. It decides nothing: a Target is part of a sealed spec, and this
// package only makes Intune match it, reports where Intune differs (drift),
// and records every HTTP exchange for the custody chain (Result.Calls).
//
// Endpoints (Graph v1.0; nothing else is called):
//
//	POST {authority}/{tenant}/oauth2/v2.0/token                 client credentials grant, scope https://graph.microsoft.com/.default
//	GET  /deviceAppManagement/mobileApps/{id}                   the app exists; its display name for the record
//	GET  /deviceAppManagement/mobileApps/{id}/assignments       every assignment, following @odata.nextLink
//	POST /deviceAppManagement/mobileApps/{id}/assign            {"mobileAppAssignments":[…]} replaces the whole set (204)
//
// Permission: the app registration needs the Microsoft Graph application
// permission DeviceManagementApps.ReadWrite.All, with admin consent, and the
// tenant an Intune licence. Nothing else.
//
// Configuration (the environment variables that carry each Config field):
//
//	GRAPH_TENANT_ID                 directory (tenant) id, or a verified domain
//	GRAPH_CLIENT_ID                 application (client) id of the app registration
//	GRAPH_CLIENT_SECRET             a client secret's value, or:
//	GRAPH_CLIENT_CERTIFICATE        PEM file: the certificate uploaded to the app registration (and its key, or:)
//	GRAPH_CLIENT_CERTIFICATE_KEY    PEM file: its unencrypted RSA key (PKCS #8 or #1)
//	GRAPH_AUTHORITY_URL             default https://login.microsoftonline.com (national clouds differ)
//	GRAPH_BASE_URL                  default https://graph.microsoft.com/v1.0
//	GRAPH_SCOPE                     default https://graph.microsoft.com/.default
//
// Which assignments are Guildhall's: the group assignments
// (groupAssignmentTarget) of the target's groups. They are recognised by group,
// not by assignment id, because Intune issues ids itself and may change them
// on every assign call (an id is recorded as evidence, never matched).
// Everything else — other groups, exclusions, all users, all devices — is
// someone else's, and since assign replaces the whole set it is sent back
// exactly as Graph gave it. Settings of an existing assignment are kept; an
// assignment filter on a target group is drift (the ceremony decided the
// whole group). An exclusion by someone else of a group the ceremony includes
// is a conflict: nothing is posted until a person resolves it.
//
// Manners: one token is shared and renewed two minutes before it expires, and
// once more when Graph answers 401; 429 and 5xx are retried after Retry-After
// (seconds or an HTTP date) or an exponential backoff, at most MaxAttempts
// times, never past the context's deadline, and a wait longer than MaxWait is
// handed to the caller (Error.RetryAfter) rather than slept; every exchange has
// a timeout. Errors are *Error: Kind and Retryable say whether trying again can
// help (a Temporal activity maps the rest to non-retryable failures), Setting
// names the configuration to fix, and no message carries a secret or a token.
//
// Package intunetest is an HTTPS fake of all of the above for tests.
package intune
