namespace SmbLayer.IntegrationTests;

/// <summary>
/// One shared Samba server for every test of a collection. Tests must use
/// <see cref="SambaFactAttribute"/>/<see cref="SambaTheoryAttribute"/>: when Samba is
/// unavailable outside CI, the fixture starts nothing and those tests are skipped; on CI
/// (CI=true) a server that cannot start fails the tests.
/// </summary>
public abstract class SambaFixture : IAsyncLifetime
{
    private SambaServer? _server;

    protected SambaFixture(SambaProfile profile) => Profile = profile;

    public SambaProfile Profile { get; }

    /// <summary>The running server (throws if Samba is unavailable and the test was not skipped).</summary>
    public SambaServer Server => _server ?? throw new InvalidOperationException(
        $"No Samba server ({Profile}): {SambaAvailability.SkipReason ?? "not started"}. Use [SambaFact]/[SambaTheory].");

    public async Task InitializeAsync()
    {
        if (SambaAvailability.SkipReason is not null)
        {
            return; // every [SambaFact] is skipped; nothing to start
        }
        _server = await SambaServer.StartAsync(Profile);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
            _server = null;
        }
    }
}

public sealed class DefaultSambaFixture() : SambaFixture(SambaProfile.Default);

public sealed class SigningMandatorySambaFixture() : SambaFixture(SambaProfile.SigningMandatory);

public sealed class MaxSmb2_10SambaFixture() : SambaFixture(SambaProfile.MaxSmb2_10);

public sealed class MaxSmb3_00SambaFixture() : SambaFixture(SambaProfile.MaxSmb3_00);

public sealed class MaxSmb3_02SambaFixture() : SambaFixture(SambaProfile.MaxSmb3_02);

public sealed class EncryptionRequiredSambaFixture() : SambaFixture(SambaProfile.EncryptionRequired);

public sealed class DfsSambaFixture() : SambaFixture(SambaProfile.Dfs);

public sealed class ManySharesSambaFixture() : SambaFixture(SambaProfile.ManyShares);

/// <summary>Collection names for <c>[Collection(...)]</c>.</summary>
public static class SambaCollections
{
    public const string Default = "samba-default";
    public const string SigningMandatory = "samba-signing";
    public const string MaxSmb2_10 = "samba-smb2_10";
    public const string MaxSmb3_00 = "samba-smb3_00";
    public const string MaxSmb3_02 = "samba-smb3_02";
    public const string EncryptionRequired = "samba-encrypt";
}

[CollectionDefinition(SambaCollections.Default)]
public sealed class DefaultSambaCollection : ICollectionFixture<DefaultSambaFixture>;

[CollectionDefinition(SambaCollections.SigningMandatory)]
public sealed class SigningMandatorySambaCollection : ICollectionFixture<SigningMandatorySambaFixture>;

[CollectionDefinition(SambaCollections.MaxSmb2_10)]
public sealed class MaxSmb2_10SambaCollection : ICollectionFixture<MaxSmb2_10SambaFixture>;

[CollectionDefinition(SambaCollections.MaxSmb3_00)]
public sealed class MaxSmb3_00SambaCollection : ICollectionFixture<MaxSmb3_00SambaFixture>;

[CollectionDefinition(SambaCollections.MaxSmb3_02)]
public sealed class MaxSmb3_02SambaCollection : ICollectionFixture<MaxSmb3_02SambaFixture>;

[CollectionDefinition(SambaCollections.EncryptionRequired)]
public sealed class EncryptionRequiredSambaCollection : ICollectionFixture<EncryptionRequiredSambaFixture>;
