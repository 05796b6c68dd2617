"""Code that runs on (or stands in for) a leg press: the simulator, later the edge agent."""
