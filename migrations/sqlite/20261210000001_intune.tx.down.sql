DROP TABLE IF EXISTS intune_deployments;
