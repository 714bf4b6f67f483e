"""门户: the citizen's and enterprise's pages (home, search, guides, license verification, 我的证照).

Server-rendered zh-CN pages over the catalog, licenses and identity services, with the portal's own
search vocabulary (``vocabulary.tsv``) and an 适老化 mode kept in a cookie.
"""
