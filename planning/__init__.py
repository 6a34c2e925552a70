"""The planner's workbench: drafts of the grid boundaries, edited and published as versions."""
