from django.core.management.base import BaseCommand

from apps.access.policy import markdown_table


class Command(BaseCommand):
    help = "Print the permission matrix as the Markdown table kept in docs/access.md."

    def handle(self, *args, **options):
        self.stdout.write(markdown_table())
