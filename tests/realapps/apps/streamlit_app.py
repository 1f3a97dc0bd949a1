"""A real Streamlit app: an inventory title, a metric and a table. Broken (``REALAPP_MODE=
broken``): the script raises after the title, and Streamlit shows its exception box on a page
that answered 200."""

import os

import streamlit as st

st.title("Warehouse inventory")
if os.environ.get("REALAPP_MODE") == "broken":
    raise RuntimeError("inventory database unreachable")
st.metric("Widgets in stock", 1234)
st.table({"item": ["widget", "gadget", "sprocket"], "count": [1234, 56, 789]})
