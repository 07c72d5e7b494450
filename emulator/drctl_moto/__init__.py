"""drctl's extension of moto: AWS Backup jobs, recovery points, restores and
copies; DynamoDB point-in-time history, restores and exports to S3;
AWS::Backup::*, AWS::SNS::Subscription and AWS::S3::* CloudFormation types;
change-set details; roll-backs; fault injection and a control API; Service
Quotas' ListServiceQuotas / GetServiceQuota for AWS Backup's applied quotas.

``install()`` must run before moto's server builds its routes.
"""

from __future__ import annotations

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from . import selfcheck

    selfcheck.run()

    from moto.cloudformation import parsing
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse

    from . import backup_api, changesets, dynamodb_atomic, exports, lifecycle, pitr, service_quotas, stacks
    from . import cfn_backup, cfn_resources, cfn_s3  # noqa: F401  (defines the CFN types)

    lifecycle.register_defaults()
    backup_api.install_routes()
    cfn_resources.patch_topic_attributes()
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()

    CloudFormationBackend.create_change_set = changesets.create_change_set
    CloudFormationBackend.describe_change_set = changesets.describe_change_set
    CloudFormationResponse.create_change_set = changesets.create_change_set_response
    CloudFormationResponse.describe_change_set = changesets.describe_change_set_response
    CloudFormationResponse.delete_change_set = changesets.delete_change_set_response
    CloudFormationResponse.list_change_sets = changesets.list_change_sets_response
    CloudFormationResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER = {
        **CloudFormationResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER,
        "DescribeChangeSetOutput.Tags": changesets.tags_out,
    }
    stacks.install()
    dynamodb_atomic.install()
    pitr.install()
    exports.install()
    cfn_s3.install()
    service_quotas.install()

    selfcheck.run(installed=True)
    _installed = True
