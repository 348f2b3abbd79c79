"""The Streamlit entry point: page config, navigation, and the session a reload brings back."""
import streamlit as st

from workbench.engine import get_engine
from workbench.ui import state as ui_state
from workbench.ui.common import existing_pages, guard_help_icons, page_path

st.set_page_config(page_title="Workbench", page_icon="🧰", layout="wide")
guard_help_icons()
sessions = get_engine().workspace / "sessions"
ui_state.bind_session(st.session_state, st.query_params, sessions)
try:
    st.navigation([
        st.Page(str(page_path(p.name)), title=p.title, icon=p.icon, url_path=p.name, default=p.name == "home")
        for p in existing_pages()
    ]).run()
finally:  # also when a page stops, reruns or switches: that is when its choices changed
    ui_state.save_session(st.session_state, sessions)
