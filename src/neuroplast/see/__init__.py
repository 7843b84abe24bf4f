"""See into a run: the self-contained ``report.html`` (:mod:`neuroplast.see.report`) and the local web
page with its JSON API (:mod:`neuroplast.see.server`). Every user-facing string of both comes from one
table per language (:mod:`neuroplast.see.locale`)."""
