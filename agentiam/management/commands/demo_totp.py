from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Print the current 6-digit second-factor code of a demo person (never in production)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        if settings.PRODUCTION:
            raise CommandError("refusing to print second-factor codes with the production profile")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"there is no person called {username!r}")
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
        if device is None:
            raise CommandError(f"{username} has no authenticator (run manage.py seed_demo, or enrol in the browser)")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        code = f"{totp.token():0{device.digits}d}"
        remaining = device.step - int(totp.time - device.t0) % device.step
        if totp.t() <= device.last_t:
            self.stderr.write(f"this code was already used; the next one appears in {remaining} s")
        self.stdout.write(code)
        if options["verbosity"] > 1:
            self.stderr.write(f"valid for another {remaining} s")
