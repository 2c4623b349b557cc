"""The registry's browser pages: identities (list, page, forms and inline actions), systems and tools.

Every view declares its roles and reads from `Identity.objects.restrict(request.user, ...)`, so another
owner's identity is a 404; the services then apply "who may do what" and separation of duties."""
