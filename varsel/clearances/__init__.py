"""Personnel security clearances across borders, and access to classified material."""
