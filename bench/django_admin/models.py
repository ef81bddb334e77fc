"""The console's tables as unmanaged Django models (only the columns the admin pages show)."""
from django.db import models

CHANNELS = [("phone", "电话"), ("email", "邮件"), ("visit", "拜访"), ("wechat", "微信"), ("sms", "短信")]


class Department(models.Model):
    name = models.CharField("名称", max_length=100)

    class Meta:
        managed = False
        db_table = "department"
        verbose_name = verbose_name_plural = "部门"

    def __str__(self):
        return self.name


class ConsoleUser(models.Model):
    username = models.CharField("用户名", max_length=64)
    display_name = models.CharField("姓名", max_length=64)

    class Meta:
        managed = False
        db_table = "user"
        verbose_name = verbose_name_plural = "用户"

    def __str__(self):
        return self.display_name


class Customer(models.Model):
    code = models.CharField("编号", max_length=32)
    name = models.CharField("名称", max_length=200)
    tier = models.CharField("等级", max_length=16)
    grade = models.CharField("评级", max_length=1)
    stage = models.CharField("阶段", max_length=16)
    region = models.CharField("区域", max_length=16)
    industry = models.CharField("行业", max_length=64)
    phone = models.CharField("电话", max_length=32)
    owner = models.ForeignKey(ConsoleUser, models.DO_NOTHING, null=True, verbose_name="负责人", db_constraint=False)
    department = models.ForeignKey(Department, models.DO_NOTHING, null=True, verbose_name="部门",
                                   db_constraint=False)
    confidentiality = models.CharField("保密级别", max_length=16)
    last_contact_at = models.DateTimeField("最近联系", null=True)

    class Meta:
        managed = False
        db_table = "customer"
        verbose_name = verbose_name_plural = "客户"

    def __str__(self):
        return self.name


class Communication(models.Model):
    customer = models.ForeignKey(Customer, models.DO_NOTHING, verbose_name="客户", db_constraint=False)
    at = models.DateTimeField("时间")
    channel = models.CharField("方式", max_length=16, choices=CHANNELS)
    by = models.ForeignKey(ConsoleUser, models.DO_NOTHING, null=True, verbose_name="经办人", db_constraint=False)
    summary = models.TextField("摘要")

    class Meta:
        managed = False
        db_table = "communication"
        verbose_name = verbose_name_plural = "沟通记录"


class Complaint(models.Model):
    number = models.CharField("编号", max_length=32)
    received_at = models.DateTimeField("受理时间")
    complainant = models.CharField("投诉人", max_length=100)
    customer = models.ForeignKey(Customer, models.DO_NOTHING, null=True, verbose_name="客户", db_constraint=False)
    category = models.CharField("类别", max_length=16)
    status = models.CharField("状态", max_length=16)
    department = models.ForeignKey(Department, models.DO_NOTHING, null=True, verbose_name="部门",
                                   db_constraint=False)
    due_at = models.DateTimeField("期限", null=True)

    class Meta:
        managed = False
        db_table = "complaint"
        verbose_name = verbose_name_plural = "投诉"
