"""The Streamlit entry point: page config and navigation, nothing else."""
import streamlit as st

from workbench.ui.common import existing_pages, page_path

st.set_page_config(page_title="Workbench", page_icon="🧰", layout="wide")
st.navigation([
    st.Page(str(page_path(p.name)), title=p.title, icon=p.icon, url_path=p.name, default=p.name == "home")
    for p in existing_pages()
]).run()
