package worker_test

import "go.temporal.io/api/workflowservice/v1"

func listReq(query string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: query}
}
