"""The admin as one would write it for these tables: list columns, search, a department filter.

Paging is Django's default (exact ``COUNT(*)``); 50 rows a page like the console.
"""
from django.contrib import admin

from .models import Communication
from .models import Complaint
from .models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "tier", "grade", "stage", "region", "owner", "department", "last_contact_at")
    search_fields = ("name",)
    list_filter = ("department",)
    ordering = ("-id",)
    list_per_page = 50


@admin.register(Communication)
class CommunicationAdmin(admin.ModelAdmin):
    list_display = ("at", "customer", "channel", "by", "summary")
    search_fields = ("summary",)
    ordering = ("-id",)
    list_per_page = 50


@admin.register(Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    list_display = ("number", "received_at", "complainant", "customer", "category", "status", "department")
    search_fields = ("number", "complainant")
    list_filter = ("department",)
    ordering = ("-id",)
    list_per_page = 50
