"""The UI framework layer: plumbing every dashboard page uses (form errors, sorted and paginated lists, charts, CSV
exports). It knows no app, so any app's pages may import it; the dashboard app itself is only the home page and its
surfaces (see the layer map in docs/architecture.md)."""
