"""Leads: visitors who left their contact details in the widget, with consent."""
