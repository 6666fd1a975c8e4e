def tenant(request):
    """Expose the current tenant to templates (None on the platform host)."""
    current = getattr(request, "tenant", None)
    if current is not None and current.is_public:
        current = None
    return {"current_tenant": current}
