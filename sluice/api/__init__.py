"""The Vertex AI REST API: projects.locations.pipelineJobs and google.longrunning.Operations."""
