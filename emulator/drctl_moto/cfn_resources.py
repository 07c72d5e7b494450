"""CloudFormation types moto lacks or updates badly: AWS::SNS::Subscription
(new), and update paths for AWS::DynamoDB::Table and AWS::SNS::Topic (in
place when no create-only property changed, replacement otherwise).

The table and topic types wrap moto's own models: create and delete go to
moto, update is ours.  Because these classes are defined after moto's,
moto's type -> model map picks them for those two types.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.sns.models import Topic, sns_backends

from .cfn_common import ResourceFailed, as_bool, check_failure, props, tag_dict

SUBSCRIPTION = "AWS::SNS::Subscription"
TABLE = "AWS::DynamoDB::Table"
TOPIC = "AWS::SNS::Topic"


def _custom_name_replacement(name: str) -> ResourceFailed:
    return ResourceFailed(
        "CloudFormation cannot update a stack when a custom-named resource requires "
        f"replacing. Rename {name} and update the stack again."
    )


# ---------------------------------------------------------------------------
class SubscriptionResource(CloudFormationModel):
    def __init__(self, arn: str, account_id: str, region_name: str):
        self.arn = arn
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return SUBSCRIPTION

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.arn
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def _backend(topic_arn: str, account_id: str, region_name: str):
        parts = (topic_arn or "").split(":")
        if len(parts) >= 6:
            return sns_backends[parts[4]][parts[3]]
        return sns_backends[account_id][region_name]

    @staticmethod
    def _set_attributes(backend, arn: str, p: dict[str, Any]) -> None:
        for key in ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy"):
            if p.get(key) is not None:
                value = p[key]
                backend.set_subscription_attributes(
                    arn, key, value if isinstance(value, str) else json.dumps(value)
                )
        if p.get("FilterPolicyScope"):
            backend.set_subscription_attributes(arn, "FilterPolicyScope", p["FilterPolicyScope"])
        if p.get("RawMessageDelivery") is not None:
            backend.set_subscription_attributes(
                arn, "RawMessageDelivery", "true" if as_bool(p["RawMessageDelivery"]) else "false"
            )

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        p = props(cloudformation_json)
        check_failure(account_id, SUBSCRIPTION, "create", p.get("Endpoint"), kwargs.get("LogicalId"))
        backend = cls._backend(p.get("TopicArn"), account_id, region_name)
        try:
            sub = backend.subscribe(p.get("TopicArn"), p.get("Endpoint"), p.get("Protocol"))
            cls._set_attributes(backend, sub.arn, p)
        except Exception as err:
            raise ResourceFailed(str(getattr(err, "message", err))) from err
        resource = cls(sub.arn, account_id, region_name)
        resource._props = p
        return resource

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):
        p = props(cloudformation_json)
        old = getattr(original_resource, "_props", {})
        if any(p.get(k) != old.get(k) for k in ("TopicArn", "Protocol", "Endpoint")):
            resource = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return resource
        backend = cls._backend(p.get("TopicArn"), account_id, region_name)
        cls._set_attributes(backend, original_resource.arn, p)
        original_resource._props = p
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        backend = self._backend(self.arn, account_id, region_name)
        backend.unsubscribe(self.arn)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):
        cls(resource_name, account_id, region_name).delete(account_id, region_name)


# ---------------------------------------------------------------------------
class TableResource(CloudFormationModel):
    """AWS::DynamoDB::Table: moto's create and delete, and a real update."""

    REPLACING = ("TableName", "KeySchema", "LocalSecondaryIndexes")

    @staticmethod
    def cloudformation_name_type() -> str:
        return "TableName"

    @staticmethod
    def cloudformation_type() -> str:
        return TABLE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return Table.has_cfn_attr(attr)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        check_failure(account_id, TABLE, "create", resource_name, kwargs.get("LogicalId"))
        try:
            table = Table.create_from_cloudformation_json(
                resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        except Exception as err:
            raise ResourceFailed(str(getattr(err, "message", err))) from err
        p = props(cloudformation_json)
        pitr = p.get("PointInTimeRecoverySpecification")
        if pitr is not None:
            dynamodb_backends[account_id][region_name].update_continuous_backups(
                resource_name,
                {"PointInTimeRecoveryEnabled": as_bool(pitr.get("PointInTimeRecoveryEnabled"))},
            )
        table._drctl_props = p
        return table

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):
        new = props(cloudformation_json)
        old = getattr(original_resource, "_drctl_props", {})
        name = original_resource.name
        explicit = new.get("TableName")
        renamed = bool(explicit) and explicit != name
        replace = renamed or any(new.get(k) != old.get(k) for k in cls.REPLACING[1:])
        if replace:
            if not renamed and explicit:
                raise _custom_name_replacement(name)
            target = explicit or new_resource_name
            table = cls.create_from_cloudformation_json(
                target, cloudformation_json, account_id, region_name
            )
            if cloudformation_json.get("UpdateReplacePolicy") != "Retain":
                dynamodb_backends[account_id][region_name].delete_table(name=name)
            return table
        check_failure(account_id, TABLE, "update", name)
        backend = dynamodb_backends[account_id][region_name]
        billing = new.get("BillingMode") or "PROVISIONED"
        backend.update_table(
            name=name,
            attr_definitions=new.get("AttributeDefinitions"),
            global_index=[],
            throughput=new.get("ProvisionedThroughput") if billing == "PROVISIONED" else None,
            billing_mode=billing,
            stream_spec=new.get("StreamSpecification")
            if new.get("StreamSpecification") != old.get("StreamSpecification") else None,
            deletion_protection_enabled=as_bool(new.get("DeletionProtectionEnabled", False)),
            warm_throughput=None,
        )
        if new.get("Tags") != old.get("Tags"):
            original_resource.tags = [
                {"Key": k, "Value": v} for k, v in tag_dict(new.get("Tags")).items()
            ]
        pitr = new.get("PointInTimeRecoverySpecification")
        if pitr is not None and pitr != old.get("PointInTimeRecoverySpecification"):
            backend.update_continuous_backups(
                name, {"PointInTimeRecoveryEnabled": as_bool(pitr.get("PointInTimeRecoveryEnabled"))}
            )
        original_resource._drctl_props = new
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):
        dynamodb_backends[account_id][region_name].delete_table(name=resource_name)


# ---------------------------------------------------------------------------
class TopicResource(CloudFormationModel):
    """AWS::SNS::Topic: moto's create, in-place updates, TopicArn attribute."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "TopicName"

    @staticmethod
    def cloudformation_type() -> str:
        return TOPIC

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("TopicName", "TopicArn")

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        check_failure(account_id, TOPIC, "create", resource_name, kwargs.get("LogicalId"))
        p = props(cloudformation_json)
        backend = sns_backends[account_id][region_name]
        attributes = {
            k: (v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower())
            for k, v in p.items()
            if k in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication",
                     "SignatureVersion", "TracingConfig")
        }
        name = resource_name
        if as_bool(p.get("FifoTopic", False)) and not name.endswith(".fifo"):
            name += ".fifo"
        try:
            topic = backend.create_topic(name, attributes=attributes, tags=tag_dict(p.get("Tags")))
            for sub in p.get("Subscription") or []:
                backend.subscribe(topic.arn, sub["Endpoint"], sub["Protocol"])
        except Exception as err:
            raise ResourceFailed(str(getattr(err, "message", err))) from err
        topic._drctl_props = p
        return topic

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name,
                                        cloudformation_json, account_id, region_name):
        new = props(cloudformation_json)
        old = getattr(original_resource, "_drctl_props", {})
        explicit = new.get("TopicName")
        renamed = bool(explicit) and explicit != original_resource.name
        if renamed or new.get("FifoTopic") != old.get("FifoTopic"):
            if not renamed and explicit:
                raise _custom_name_replacement(explicit)
            topic = cls.create_from_cloudformation_json(
                explicit or new_resource_name, cloudformation_json, account_id, region_name
            )
            if cloudformation_json.get("UpdateReplacePolicy") != "Retain":
                original_resource.delete(account_id, region_name)
            return topic
        check_failure(account_id, TOPIC, "update", original_resource.name)
        backend = sns_backends[account_id][region_name]
        for key in ("DisplayName", "KmsMasterKeyId"):
            if new.get(key) != old.get(key):
                backend.set_topic_attribute(original_resource.arn, key, new.get(key) or "")
        if new.get("Tags") != old.get("Tags"):
            old_tags = tag_dict(old.get("Tags"))
            new_tags = tag_dict(new.get("Tags"))
            gone = [k for k in old_tags if k not in new_tags]
            if gone:
                backend.untag_resource(original_resource.arn, gone)
            if new_tags:
                backend.tag_resource(original_resource.arn, new_tags)
        original_resource._drctl_props = new
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):
        sns_backends[account_id][region_name].delete_topic(resource_name)


def patch_topic_attributes() -> None:
    """moto's Topic answers GetAtt TopicName only; AWS also has TopicArn."""
    original = Topic.get_cfn_attribute

    def get_cfn_attribute(self: Topic, attribute_name: str) -> Any:
        if attribute_name == "TopicArn":
            return self.arn
        return original(self, attribute_name)

    Topic.get_cfn_attribute = get_cfn_attribute  # type: ignore[method-assign]
    Topic.has_cfn_attr = classmethod(lambda cls, attr: attr in ("TopicName", "TopicArn"))  # type: ignore[method-assign]
