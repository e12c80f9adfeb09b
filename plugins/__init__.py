"""First-party avharness plugins, installed as `avharness_plugins` and registered through the same
`avharness` entry-point group a third-party plugin uses."""
