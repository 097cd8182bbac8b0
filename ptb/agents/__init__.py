"""The agents: their traces, credentials, re-prompting, the scripted model endpoint, and the built-in recipes."""
