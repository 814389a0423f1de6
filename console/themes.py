"""The console's colour themes. Colours live here; every style rule lives in themes/*.tcss.

``tenantops-16`` uses only the 16 ANSI colours, so a bare SSH terminal (or
``TEXTUAL_COLOR_SYSTEM=standard``) shows exactly the palette the terminal user chose.
"""
from __future__ import annotations

from pathlib import Path, PurePath

from textual.theme import Theme

STYLESHEETS_DIR = Path(__file__).resolve().parent.parent / "themes"
# Order matters: later sheets refine earlier ones.
STYLESHEETS = ("base.tcss", "widgets.tcss", "screens.tcss", "dialogs.tcss", "unreachable.tcss")
DEFAULT_THEME = "tenantops-dark"

THEMES: dict[str, Theme] = {
    "tenantops-dark": Theme(
        name="tenantops-dark",
        primary="#4A9FD8",
        secondary="#3D6E91",
        accent="#E0A458",
        warning="#E5B242",
        error="#E5626F",
        success="#6CC18A",
        foreground="#D9DEE5",
        background="#14181E",
        surface="#1B2028",
        panel="#252C37",
        dark=True,
        # solid colours, not "auto 60%": markup spans (detail panes) cannot blend
        variables={"text-muted": "#8B95A3", "text-disabled": "#5F6875"},
    ),
    "tenantops-light": Theme(
        name="tenantops-light",
        primary="#1C63A6",
        secondary="#4B6E8F",
        accent="#A35A00",
        warning="#A36200",
        error="#B3261E",
        success="#1E7A3C",
        foreground="#1B222C",
        background="#F4F6F8",
        surface="#FFFFFF",
        panel="#E3E8EE",
        dark=False,
        variables={"text-muted": "#5B6472", "text-disabled": "#9AA2AD"},
    ),
    # high contrast: pure black and white, saturated status colours, no translucency
    "tenantops-contrast": Theme(
        name="tenantops-contrast",
        primary="#00BFFF",
        secondary="#FFFFFF",
        accent="#FFFF00",
        warning="#FFD700",
        error="#FF4040",
        success="#00FF66",
        foreground="#FFFFFF",
        background="#000000",
        surface="#000000",
        panel="#000000",
        boost="#000000",
        dark=True,
        luminosity_spread=0.0,
        text_alpha=1.0,
        variables={
            "border": "#FFFFFF",
            "border-blurred": "#A0A0A0",
            "block-cursor-background": "#FFFF00",
            "block-cursor-foreground": "#000000",
            "block-cursor-blurred-background": "#606060",
            "block-cursor-blurred-foreground": "#FFFFFF",
            "footer-key-foreground": "#FFFF00",
            "text-muted": "#D0D0D0",
            "text-disabled": "#909090",
        },
    ),
    "tenantops-16": Theme(
        name="tenantops-16",
        ansi=True,
        primary="ansi_blue",
        secondary="ansi_cyan",
        accent="ansi_magenta",
        warning="ansi_yellow",
        error="ansi_red",
        success="ansi_green",
        foreground="ansi_default",
        background="ansi_default",
        surface="ansi_default",
        panel="ansi_default",
        boost="ansi_default",
        dark=True,
        variables={
            "text-primary": "ansi_blue",
            "text-success": "ansi_green",
            "text-warning": "ansi_yellow",
            "text-error": "ansi_red",
            "text-accent": "ansi_magenta",
            "text-muted": "ansi_bright_black",
            "text-disabled": "ansi_bright_black",
            "ansi-background": "ansi_black",
            "ansi-foreground": "ansi_white",
            "border": "ansi_blue",
            "border-blurred": "ansi_bright_black",
            "block-cursor-foreground": "ansi_black",
            "block-cursor-background": "ansi_white",
            "block-cursor-blurred-foreground": "ansi_default",
            "block-cursor-blurred-background": "ansi_bright_black",
            "input-cursor-background": "ansi_white",
            "input-cursor-foreground": "ansi_black",
            "input-cursor-text-style": "none",
            "input-selection-background": "ansi_bright_blue",
            "input-selection-foreground": "ansi_black",
            "screen-selection-background": "ansi_bright_blue",
            "screen-selection-foreground": "ansi_black",
        },
    ),
}

# Pygments themes for the SQL preview, chosen to stay readable on each background.
SYNTAX_THEMES = {
    "tenantops-dark": "monokai",
    "tenantops-light": "friendly",
    "tenantops-contrast": "ansi_dark",
    "tenantops-16": "ansi_dark",
}


def stylesheets() -> list[str | PurePath]:
    return [str(STYLESHEETS_DIR / name) for name in STYLESHEETS]


def syntax_theme(theme: str) -> str:
    return SYNTAX_THEMES.get(theme, "monokai")
