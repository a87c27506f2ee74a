"""One router per area of the interface; each page asks a service, which asks the policy."""
