"""What customers see: status pages and their JSON twin, the Atom feed, badges, signed
links to private pages (API_CONTRACT.md, "Customers' views")."""
