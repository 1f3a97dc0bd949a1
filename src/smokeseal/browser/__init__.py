"""The browser of page checks: a real headless Chromium through Playwright, unable to write.

One module per concern, imported in this order (each only from those above it):

- :mod:`~smokeseal.browser.launch`: which Chromium, and the flags that switch off what sends
  past any route (no Playwright import: ``doctor`` and ``init`` use it without a browser);
- :mod:`~smokeseal.browser.visit`: what one visit saw (requests, refusals, errors), the
  facts the verdict of :mod:`smokeseal.checks.page` is taken from;
- :mod:`~smokeseal.browser.guard`: what may leave the browser toward production;
- :mod:`~smokeseal.browser.tab`: a context with one page, its guard installed once, wiped
  back to a new visitor for reuse;
- :mod:`~smokeseal.browser.session`: one launched browser per run, lending tabs;
- :mod:`~smokeseal.browser.thread`: that session on a thread of its own, started early.

Importing this package imports none of them (nor Playwright).
"""
