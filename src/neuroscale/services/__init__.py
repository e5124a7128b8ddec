"""Use cases the CLI, portal and demo call: propose endpoints as pull requests, check and merge them."""
